#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HavenProto
import HavenRPCClient
import HavenTestSupport
import HavenWire
import SwiftProtobuf
import Testing

/// A real havend under hostile load: a thousand connections held open, a
/// frame started and never finished, a client that never reads, and a flood
/// past the per-connection limit. Each time another client must still be
/// served, memory must stay bounded, and refusals must be RESOURCE_EXHAUSTED.
/// Nothing here is timed; bounds are on memory and on outcomes.
@Suite(.serialized, .timeLimit(.minutes(2))) struct LoadTests {
    static func daemon(limits: String = "") async throws -> DaemonProcess {
        let directory = TemporaryDirectory(prefix: "load")
        let config = try directory.write("havend.toml", "[limits]\n\(limits)\n")
        return try await DaemonProcess(arguments: ["--config", config], directory: directory).start()
    }

    /// Resident memory of a process, in MiB.
    static func residentMiB(_ pid: Int32) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    static func requestFrame(streamID: UInt32, service: String, method: String, payload: [UInt8] = []) throws -> [UInt8] {
        let request = Ttrpc_Request.with { $0.service = service; $0.method = method; $0.payload = Data(payload) }
        return ttrpcFrame(streamID: streamID, type: 1, data: try request.serializedBytes())
    }

    /// Another client's Health call succeeds: the daemon is still serving.
    static func expectServing(_ daemon: DaemonProcess, _ comment: Comment) async throws {
        let client = try await daemon.client()
        let health: Haven_V1_HealthResponse = try await client.unary("haven.v1.Daemon", "Health", Haven_V1_HealthRequest(), timeout: .seconds(10))
        #expect(health.status == .serving, comment)
        await client.close()
    }

    @Test func aThousandConnectionsHeldOpenLeaveTheDaemonResponsive() async throws {
        let daemon = try await Self.daemon()
        let before = Self.residentMiB(daemon.pid)
        var sockets: [RawSocket] = []
        // Each connection makes one call, so the daemon holds its full state, then stays open.
        for _ in 0..<1_000 {
            let socket = try RawSocket(path: daemon.socketPath)
            try socket.send(try Self.requestFrame(streamID: 1, service: "haven.v1.Daemon", method: "Health"))
            let frame = try #require(try readFrame(socket))
            #expect(try Ttrpc_Response(serializedBytes: frame.data).status.code == 0)
            sockets.append(socket)
        }
        try await Self.expectServing(daemon, "served with 1,000 connections open")
        #expect(try await daemon.cli(["status"]).status == 0)
        // Every connection is still open and answers a second call.
        for socket in sockets {
            try socket.send(try Self.requestFrame(streamID: 3, service: "haven.v1.Daemon", method: "Health"))
            #expect(try readFrame(socket)?.streamID == 3)
        }
        let grown = Self.residentMiB(daemon.pid) - before
        print("load: 1000 connections held open; havend grew \(Int(grown)) MiB (from \(Int(before)) MiB)")
        #expect(grown < 100, "1,000 idle connections cost \(grown) MiB")
        sockets.removeAll()
        try await daemon.stop()
    }

    @Test func connectionsPastTheLimitAreToldWhyAndClosed() async throws {
        let daemon = try await Self.daemon(limits: "max_connections = 20")
        var held: [RawSocket] = []
        for _ in 0..<20 {
            let socket = try RawSocket(path: daemon.socketPath)
            try socket.send(try Self.requestFrame(streamID: 1, service: "haven.v1.Daemon", method: "Health"))
            #expect(try readFrame(socket)?.streamID == 1)
            held.append(socket)
        }
        // The 21st connection's first call is answered RESOURCE_EXHAUSTED, then it is closed.
        let refused = try RawSocket(path: daemon.socketPath)
        try refused.send(try Self.requestFrame(streamID: 7, service: "haven.v1.Daemon", method: "Health"))
        let frame = try #require(try readFrame(refused))
        #expect(frame.streamID == 7)
        let status = try Ttrpc_Response(serializedBytes: frame.data).status
        #expect(status.code == StatusCode.resourceExhausted.rawValue)
        #expect(status.message.contains("max_connections"), "\(status.message)")
        #expect(refused.isClosedByPeer())
        // One leaves; a newcomer is served again.
        held.removeFirst()
        var served = false
        for _ in 0..<50 where !served {
            try await Task.sleep(for: .milliseconds(20))
            let socket = try RawSocket(path: daemon.socketPath)
            try socket.send(try Self.requestFrame(streamID: 1, service: "haven.v1.Daemon", method: "Health"))
            if let answer = try readFrame(socket), try Ttrpc_Response(serializedBytes: answer.data).status.code == 0 { served = true }
        }
        #expect(served, "a connection is accepted again once one closes")
        held.removeAll()
        try await daemon.stop()
    }

    @Test func aHalfSentFrameIsClosedAfterItsTimeoutWhileOthersAreServed() async throws {
        let daemon = try await Self.daemon(limits: "partial_frame_timeout_seconds = 1")
        let stalled = try RawSocket(path: daemon.socketPath)
        let frame = try Self.requestFrame(streamID: 1, service: "haven.v1.Daemon", method: "Health")
        try stalled.send(Array(frame.prefix(7)))  // half a header, then nothing
        try await Self.expectServing(daemon, "served while a frame is half sent")
        #expect(stalled.isClosedByPeer(), "the stalled connection is closed (recv times out after 10 s otherwise)")
        try await Self.expectServing(daemon, "still serving")
        try await daemon.stop()
    }

    @Test func aClientThatNeverReadsIsHeldBackNotBuffered() async throws {
        let daemon = try await Self.daemon()
        let before = Self.residentMiB(daemon.pid)
        var reader: RawSocket? = try RawSocket(path: daemon.socketPath)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(reader!.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // Describe answers with every service's descriptors, tens of KiB per call.
        var sent = 0
        var heldBack = false
        for n in 0..<50_000 {
            do {
                try reader!.send(try Self.requestFrame(streamID: UInt32(2 * n + 1), service: "haven.v1.Daemon", method: "Describe"))
                sent += 1
            } catch {
                heldBack = true  // the daemon stopped reading this connection: back-pressure
                break
            }
        }
        #expect(heldBack, "the daemon kept reading from a client that never reads (\(sent) requests)")
        try await Self.expectServing(daemon, "served while another client never reads")
        let grown = Self.residentMiB(daemon.pid) - before
        print("load: a non-reading client got \(sent) requests in before the daemon stopped reading; havend grew \(Int(grown)) MiB")
        #expect(grown < 200, "answers queued for a client that never reads: \(grown) MiB")
        reader = nil  // closes the connection; the daemon drops what it queued for it
        try await Self.expectServing(daemon, "served after the non-reader left")
        try await daemon.stop()
    }

    @Test func callsPastThePerConnectionLimitGetResourceExhausted() async throws {
        let daemon = try await Self.daemon(limits: "max_concurrent_calls_per_connection = 4")
        let flooder = try await daemon.client()
        // Four event streams stay open: the connection is at its limit.
        var streams: [Task<Void, Never>] = []
        for _ in 0..<4 {
            let stream = flooder.serverStream(service: "haven.v1.Events", method: "Subscribe", payload: try Haven_V1_SubscribeRequest().serializedBytes())
            streams.append(Task { do { for try await _ in stream {} } catch {} })
        }
        try await Task.sleep(for: .milliseconds(300))
        var refused = 0, answered = 0, other: [String] = []
        await withTaskGroup(of: String?.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    do {
                        _ = try await flooder.unary(service: "haven.v1.Daemon", method: "Health", payload: [])
                        return nil
                    } catch let error as RPCError {
                        return error.code == .resourceExhausted ? "refused" : "\(error.code): \(error.message)"
                    } catch {
                        return "\(error)"
                    }
                }
            }
            for await outcome in group {
                switch outcome {
                case nil: answered += 1
                case "refused": refused += 1
                case let text?: other.append(text)
                }
            }
        }
        #expect(refused == 200, "calls past the limit: \(refused) refused, \(answered) answered, other: \(other.prefix(3))")
        try await Self.expectServing(daemon, "another connection is served while one is at its limit")
        for stream in streams { stream.cancel() }
        await flooder.close()
        try await daemon.stop()
    }
}
