import Foundation
import HavenProto
import HavenRPCClient
import SwiftProtobuf

/// Round trip and throughput of `Daemon/Health`: havend against the C echo
/// floor and containerd's ttrpc server, all driven by the same C client with
/// the same request bytes. Servers are measured in alternating rounds and the
/// median round is reported, so drift on a shared machine hits all alike.
struct UnaryCallFigures {
    let run: BenchmarkRun

    func measure() async throws -> [Figure] {
        let requestFile = run.scratch.file("health.request")
        let request = Ttrpc_Request.with { $0.service = "haven.v1.Daemon"; $0.method = "Health" }
        try Data(try request.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: requestFile))

        // The Go server answers with exactly the bytes havend answers with.
        let client = try await RPCClient.connect(unixSocket: run.daemon.socketPath)
        let healthBytes = try await client.unary(service: "haven.v1.Daemon", method: "Health", payload: [])
        await client.close()
        let responseFile = run.scratch.file("health.response")
        try Data(healthBytes).write(to: URL(fileURLWithPath: responseFile))

        run.logger.debug("health response captured", metadata: ["bytes": "\(healthBytes.count)"])
        let echo = try run.startHelper(run.tools.echoServer, socket: run.scratch.file("echo.sock"), arguments: [])
        var ttrpc: HelperProcess?
        if let server = run.tools.ttrpcServer {
            ttrpc = try run.startHelper(server, socket: run.scratch.file("ttrpc.sock"), arguments: [responseFile])
        }
        defer {
            echo.stop()
            ttrpc?.stop()
        }
        let load = LoadGenerator(executable: run.tools.benchClient)
        let scale = run.scale
        run.logger.debug("baseline servers listening")

        var havendP50: [Double] = [], havendP99: [Double] = [], echoP50: [Double] = [], echoP99: [Double] = []
        var ttrpcP50: [Double] = [], ttrpcP99: [Double] = []
        // Round trips on an idle machine wait on a vCPU's wake-up
        // (performance.md, "Unary latency"): its idle share is context.
        let (_, host) = try await HostCPU.shares {
            for _ in 0..<3 {
                let e = try await load.run(socket: echo.socket, requests: .one(requestFile), load: .sequential(calls: scale.latencyCalls), echo: true)
                echoP50.append(e.p50); echoP99.append(e.p99)
                if let ttrpc {
                    let t = try await load.run(socket: ttrpc.socket, requests: .one(requestFile), load: .sequential(calls: scale.latencyCalls))
                    ttrpcP50.append(t.p50); ttrpcP99.append(t.p99)
                }
                let h = try await load.run(socket: run.daemon.socketPath, requests: .one(requestFile), load: .sequential(calls: scale.latencyCalls))
                havendP50.append(h.p50); havendP99.append(h.p99)
            }
        }
        var havendRate: [Double] = [], ttrpcRate: [Double] = []
        let concurrent = LoadGenerator.Load.concurrent(connections: 4, inflight: 16, seconds: scale.throughputSeconds)
        for _ in 0..<2 {
            if let ttrpc {
                ttrpcRate.append(try await load.run(socket: ttrpc.socket, requests: .one(requestFile), load: concurrent).callsPerSecond)
            }
            havendRate.append(try await load.run(socket: run.daemon.socketPath, requests: .one(requestFile), load: concurrent).callsPerSecond)
        }
        run.peakRSSUnderLoad = ProcessMemory.rss(pid: run.daemon.pid).peak

        let missing = run.tools.ttrpcUnavailable
        let calls = "\(scale.latencyCalls) sequential calls × 3 rounds, median round" + (host.map { "; \($0)" } ?? "")
        func ttrpcBaseline(_ values: [Double]) -> (name: String, value: Double)? {
            values.isEmpty ? nil : ("containerd ttrpc", Samples.median(values))
        }
        return [
            Figure("Health round trip p50 vs echo", value: Samples.median(havendP50), unit: "µs",
                   baseline: ("C echo", Samples.median(echoP50)), target: .ratioAtMost(1.5), note: calls),
            Figure("Health round trip p50 vs ttrpc", value: Samples.median(havendP50), unit: "µs",
                   baseline: ttrpcBaseline(ttrpcP50), target: .ratioAtMost(1.0), note: missing ?? host),
            Figure("Health round trip p99 vs echo", value: Samples.median(havendP99), unit: "µs",
                   baseline: ("C echo", Samples.median(echoP99)), target: .report),
            Figure("Health round trip p99 vs ttrpc", value: Samples.median(havendP99), unit: "µs",
                   baseline: ttrpcBaseline(ttrpcP99), target: .report, note: missing),
            Figure("Health throughput, 64 in flight on 4 connections", value: Samples.median(havendRate), unit: "calls/s",
                   baseline: ttrpcBaseline(ttrpcRate), target: .ratioAtLeast(1.0),
                   note: "\(Figure.format(scale.throughputSeconds)) s × 2 rounds" + (missing.map { "; \($0)" } ?? "")),
        ]
    }
}
