import Foundation
import HavenTestSupport
import Logging

/// Drives Benchmarks/c/bench_client.c: the same client, with the same request
/// bytes, against every server a figure compares.
struct LoadGenerator {
    let executable: String
    var logger = Logger(label: "haven-bench")

    struct Result: Decodable, Sendable {
        var calls: Int
        var errors: Int
        var seconds: Double
        var callsPerSecond: Double
        var p50: Double
        var p90: Double
        var p99: Double
        var max: Double

        enum CodingKeys: String, CodingKey {
            case calls, errors, seconds
            case callsPerSecond = "calls_per_second"
            case p50 = "p50_us", p90 = "p90_us", p99 = "p99_us", max = "max_us"
        }
    }

    enum Load {
        /// One connection, one call at a time.
        case sequential(calls: Int)
        /// `connections` connections, `inflight` calls in flight on each, for
        /// a time; each connection in its own thread, or with `oneThread`
        /// every connection in one thread waiting on them all with epoll.
        case concurrent(connections: Int, inflight: Int, seconds: Double, oneThread: Bool = false)
    }

    /// What the client sends.
    enum Requests {
        /// A file holding one encoded ttrpc.Request, sent on every call.
        case one(String)
        /// A file holding encoded ttrpc.Requests, each after its length
        /// (4 bytes, big-endian), sent in turn on each connection.
        case inTurn(String)

        var arguments: [String] {
            switch self {
            case .one(let file): ["--request", file]
            case .inTurn(let file): ["--requests", file]
            }
        }
    }

    /// `echo` accepts the echoed Request frames.
    func run(socket: String, requests: Requests, load: Load, echo: Bool = false, warmup: Int = 200) async throws -> Result {
        try await invoke(socket: socket, arguments: requests.arguments, load: load, echo: echo, warmup: warmup)
    }

    /// As `run`, also returning every measured latency (µs) in the order
    /// answered, which the client writes to `samplesFile` (`--samples`: one
    /// a line), so that several runs can be pooled, or each sequential call
    /// paired with its request.
    func latencies(socket: String, requests: Requests, load: Load, warmup: Int, samplesFile: String) async throws -> (result: Result, latencies: [Double]) {
        let result = try await invoke(socket: socket, arguments: requests.arguments + ["--samples", samplesFile], load: load, echo: false, warmup: warmup)
        let text = try String(contentsOfFile: samplesFile, encoding: .utf8)
        return (result, try text.split(separator: "\n").enumerated().map { line, sample in
            guard let value = Double(sample) else {
                throw BenchmarkError("\(samplesFile), line \(line + 1): \"\(sample)\" is not a latency")
            }
            return value
        })
    }

    private func invoke(socket: String, arguments requests: [String], load: Load, echo: Bool, warmup: Int) async throws -> Result {
        var arguments = ["--socket", socket] + requests + ["--warmup", String(warmup)]
        switch load {
        case .sequential(let calls):
            arguments += ["--calls", String(calls)]
        case .concurrent(let connections, let inflight, let seconds, let oneThread):
            arguments += ["--connections", String(connections), "--inflight", String(inflight), "--seconds", String(seconds)]
            if oneThread { arguments.append("--single-thread") }
        }
        if echo { arguments.append("--echo") }
        logger.debug("bench-client \(arguments.joined(separator: " "))")
        let result = try await HavenTestSupport.run(executable, arguments, timeout: .seconds(600))
        logger.debug("bench-client finished", metadata: ["status": "\(result.status)"])
        guard let line = result.stdout.split(separator: "\n").last,
              let decoded = try? JSONDecoder().decode(Result.self, from: Data(line.utf8)) else {
            throw BenchmarkError("bench-client against \(socket) failed (status \(result.status)): \(result.stderr)")
        }
        guard result.status == 0 else {
            throw BenchmarkError("bench-client against \(socket): \(decoded.errors) calls failed of \(decoded.calls); \(result.stderr)")
        }
        return decoded
    }
}
