import Foundation
import HavenTestSupport
import Testing

/// haven-bench at its smoke scale: every step of the benchmark (synthetic
/// district, OneRoster import, baselines in C and Go, a real havend) runs and
/// every figure comes out with its baseline. It checks that the benchmark
/// works, never how fast anything is: speed is judged by the release run's
/// ratios (Docs/performance.md), not by timed tests.
@Suite(.timeLimit(.minutes(10))) struct BenchmarkSmokeTests {
    struct Report: Decodable {
        struct Figure: Decodable {
            var name: String
            var value: Double
            var unit: String
            var baselineName: String?
            var baseline: Double?
            var note: String?
        }
        var scale: String
        var figures: [Figure]
    }

    @Test func theBenchmarkRunsEveryFigureBesideItsBaseline() async throws {
        let scratch = TemporaryDirectory(prefix: "haven-bench-smoke")
        let json = scratch.file("figures.json")
        var environment = ProcessInfo.processInfo.environment
        environment["HAVEN_BIN_DIR"] = Binaries.directory
        let result = try await run(Binaries.directory + "/haven-bench",
                                   ["--smoke", "--json", json, "--source-root", Binaries.packageRoot],
                                   environment: environment, timeout: .seconds(600))
        try #require(result.status == 0, "haven-bench --smoke failed:\n\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("figure"), "the table is printed")

        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(report.scale == "smoke")
        let names = report.figures.map(\.name)
        // Every figure the issue asks for, each compared with a baseline from the same run.
        let compared = [
            "Health round trip p50 vs echo", "Health round trip p99 vs echo",
            "Health throughput, 64 in flight on 4 connections",
            "durable concern creation, 64 concurrent writers",
            "student timeline read p99 (Timeline/Get)", "student timeline read p99, against an audited query",
            "student timeline read p50, against the concerns alone",
            "concerns report (Reports/Run, JSON)", "screening report (Reports/Run, JSON)",
            "referrals report (Reports/Run, JSON)", "caseload report (Reports/Run, JSON)",
        ]
        for name in compared {
            let figure = report.figures.first { $0.name == name }
            #expect(figure != nil, "missing figure \(name) in \(names)")
            if let figure {
                #expect(figure.value > 0, "\(name) measured nothing")
                #expect((figure.baseline ?? 0) > 0, "\(name) has no baseline")
            }
        }
        // containerd's ttrpc is compared when Go and Debian's ttrpc are installed (install-test-deps does).
        if FileManager.default.fileExists(atPath: "/usr/share/gocode/src/github.com/containerd/ttrpc") {
            let ttrpc = report.figures.first { $0.name == "Health round trip p50 vs ttrpc" }
            #expect((ttrpc?.baseline ?? 0) > 0, "the ttrpc baseline did not run")
        }
        // The figures the host's busy minutes move say how busy it was (/proc/stat).
        for name in ["Health round trip p50 vs echo", "durable concern creation, 64 concurrent writers",
                     "student timeline read p99 (Timeline/Get)"] {
            let note = report.figures.first { $0.name == name }?.note ?? ""
            #expect(note.range(of: #"host idle \d+ %, steal \d+ %"#, options: .regularExpression) != nil, "\(name): \(note)")
        }
        let durable = report.figures.first { $0.name == "durable concern creation, 64 concurrent writers" }?.note ?? ""
        // It is measured in turns with its baseline, and says how each side's turns went.
        #expect(durable.range(of: #"^2 turns of [0-9.]+ s a side after an unmeasured one, the side going first alternating; Haven's 64 writers from one client thread; the turns' ratios [0-9.]+–[0-9.]+×; "#
                              + #"p50 [1-9][0-9.]* µs, p99 [1-9][0-9.]* µs per acknowledged concern; "#
                              + #"during Haven's turns \(warm-up included\): host idle \d+ %, steal \d+ %; during the baseline's: host idle \d+ %, steal \d+ %$"#,
                              options: .regularExpression) != nil, "\(durable)")
        // Absolute figures: import, start, memory.
        for prefix in ["OneRoster import of", "start to first answered Hello", "havend resident memory, idle after start"] {
            #expect(names.contains { $0.hasPrefix(prefix) }, "missing figure \(prefix)…")
        }
    }

    @Test func anUnknownFigureGroupIsRefusedBeforeAnythingRuns() async throws {
        let result = try await run(Binaries.directory + "/haven-bench", ["--only", "durable,latency"], timeout: .seconds(60))
        #expect(result.status != 0)
        #expect(result.stderr.contains("\"latency\" is not a figure group; groups are unary, timeline, reports, durable"), "\(result.stderr)")
    }
}
