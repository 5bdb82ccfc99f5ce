import Foundation
import HavenRPCClient
import HavenRPCServer
import HavenTestSupport
import HavenWire
import Logging
import NIOPosix
import Testing

/// The server and client over a real Unix socket.
@Suite struct LiveServerTests {
    func withServer(limits: ServerLimits = ServerLimits(), _ body: (String) async throws -> Void) async throws {
        let directory = TemporaryDirectory(prefix: "rpc")
        let path = directory.file("s/test.sock")
        let server = RPCServer(dispatcher: TestDispatcher(), limits: limits, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        try UnixSocketPath.prepare(path, group: nil, logger: Logger(label: "test"))
        try await server.start(socketPath: path, socketGroup: nil)
        do {
            try await body(path)
        } catch {
            await server.shutdownGracefully()
            throw error
        }
        await server.shutdownGracefully()
    }

    @Test func aSlowCallNeverBlocksAFastOneOnTheSameConnection() async throws {
        try await withServer { path in
            let client = try await RPCClient.connect(unixSocket: path)
            let order = OrderRecorder()
            async let slow: Void = {
                _ = try await client.unary(service: "test.Echo", method: "Slow", payload: [1])
                order.append("slow")
            }()
            try await Task.sleep(for: .milliseconds(50))
            _ = try await client.unary(service: "test.Echo", method: "Echo", payload: [2])
            order.append("fast")
            try await slow
            #expect(order.items == ["fast", "slow"])
            await client.close()
        }
    }

    /// An `.onEventLoop` handler starts on the connection's loop and, after
    /// awaiting work on another thread, resumes there, not on a Swift
    /// concurrency thread that would have to wake the loop to answer.
    @Test func anOnEventLoopHandlerStartsAndResumesOnTheEventLoop() async throws {
        try await withServer { path in
            let client = try await RPCClient.connect(unixSocket: path)
            for _ in 0..<20 {
                #expect(try await client.unary(service: "test.Echo", method: "OnLoop", payload: []) == [1, 1])
            }
            await client.close()
        }
    }

    @Test func manyConcurrentCallsOnOneConnectionEachGetTheirOwnAnswer() async throws {
        try await withServer { path in
            let client = try await RPCClient.connect(unixSocket: path)
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        let payload = Array("call-\(i)".utf8)
                        let method = i % 10 == 0 ? "Slow" : "Echo"
                        return try await client.unary(service: "test.Echo", method: method, payload: payload) == payload
                    }
                }
                for try await matched in group { #expect(matched) }
            }
            await client.close()
        }
    }

    @Test func clientTimeoutBecomesDeadlineExceeded() async throws {
        try await withServer { path in
            let client = try await RPCClient.connect(unixSocket: path)
            let started = ContinuousClock.now
            await #expect(throws: RPCError.self) {
                _ = try await client.unary(service: "test.Echo", method: "Hang", payload: [], timeout: .milliseconds(200))
            }
            do {
                _ = try await client.unary(service: "test.Echo", method: "Hang", payload: [], timeout: .milliseconds(100))
            } catch let error as RPCError {
                #expect(error.code == .deadlineExceeded)
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            await client.close()
        }
    }

    @Test func serverStreamingOverTheSocket() async throws {
        try await withServer { path in
            let client = try await RPCClient.connect(unixSocket: path)
            var received: [[UInt8]] = []
            for try await message in client.serverStream(service: "test.Echo", method: "Count", payload: [5]) {
                received.append(message)
            }
            #expect(received == [[0], [1], [2], [3], [4]])
            await client.close()
        }
    }

    @Test func peerCredentialsAreTheCallersOwn() async throws {
        try await withServer { path in
            let client = try await RPCClient.connect(unixSocket: path)
            let uid = try await client.unary(service: "test.Echo", method: "Peer", payload: [])
            #expect(String(decoding: uid, as: UTF8.self) == "\(getuid())")
            await client.close()
        }
    }

    @Test func garbageOnOneConnectionDoesNotDisturbAnother() async throws {
        try await withServer { path in
            let good = try await RPCClient.connect(unixSocket: path)
            let bad = try RawSocket(path: path)
            try bad.send([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, 1, 0])
            let frame = try #require(try readFrame(bad))
            #expect(frame.type == 2)
            #expect(bad.isClosedByPeer())
            #expect(try await good.unary(service: "test.Echo", method: "Echo", payload: [1]) == [1])
            await good.close()
        }
    }

    @Test func halfClosedClientStillGetsItsAnswer() async throws {
        try await withServer { path in
            let socket = try RawSocket(path: path)
            var request = HavenProto.Ttrpc_Request()
            request.service = "test.Echo"
            request.method = "Slow"
            request.payload = Data([7])
            try socket.send(ttrpcFrame(streamID: 1, type: 1, data: try request.serializedBytes()))
            socket.shutdownWrite()
            let frame = try #require(try readFrame(socket))
            #expect(frame.streamID == 1)
            #expect(socket.isClosedByPeer())
        }
    }

    /// A call made after the connection is gone fails at once; before the fix
    /// it waited forever when the closed channel refused the write (a hang
    /// seen in the crash-durability test's writers).
    @Test(.timeLimit(.minutes(1))) func callsOnAClosedConnectionFailInsteadOfWaiting() async throws {
        let directory = TemporaryDirectory(prefix: "rpc")
        let path = directory.file("test.sock")
        let server = RPCServer(dispatcher: TestDispatcher(), group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        try await server.start(socketPath: path, socketGroup: nil)
        let client = try await RPCClient.connect(unixSocket: path)
        #expect(try await client.unary(service: "test.Echo", method: "Echo", payload: [1]) == [1])
        await server.shutdownGracefully()
        await client.close()
        for _ in 0..<3 {
            await #expect(throws: RPCError.self) { _ = try await client.unary(service: "test.Echo", method: "Echo", payload: [2]) }
        }
        var failed = false
        do {
            for try await _ in client.serverStream(service: "test.Echo", method: "Stream", payload: []) {}
        } catch {
            failed = true
        }
        #expect(failed)
    }

    @Test func shutdownLetsUnaryCallsFinish() async throws {
        let directory = TemporaryDirectory(prefix: "rpc")
        let path = directory.file("test.sock")
        let (started, began) = AsyncStream<Void>.makeStream()
        let server = RPCServer(dispatcher: TestDispatcher(slowStarted: { began.yield() }), group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        try await server.start(socketPath: path, socketGroup: nil)
        let client = try await RPCClient.connect(unixSocket: path)
        async let answer = client.unary(service: "test.Echo", method: "Slow", payload: [3])
        // Shut down only once the call is in flight (no guessing with a sleep).
        for await _ in started { break }
        await server.shutdownGracefully()
        #expect(try await answer == [3])
    }
}

final class OrderRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ item: String) { lock.withLock { storage.append(item) } }
    var items: [String] { lock.withLock { storage } }
}

import HavenProto
