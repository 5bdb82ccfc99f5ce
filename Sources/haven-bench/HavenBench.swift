import ArgumentParser
import Foundation
import HavenBenchmarks
import Logging

/// haven-bench: measures havend against the physical limits of its socket
/// and disk, each figure beside its baseline from the same run.
@main
struct HavenBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "haven-bench",
        abstract: "Benchmark havend against a C echo floor, containerd's ttrpc and plain SQLite, in one run.",
        discussion: "Build it in release mode: swift run -c release haven-bench. See Docs/performance.md.")

    @Flag(help: "Tiny sizes: checks every step works (the test suite runs this), measures nothing worth reporting.")
    var smoke = false

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    @Option(help: "Measure only these figure groups (comma-separated: \(FigureGroup.allCases.map(\.rawValue).joined(separator: ", "))); all by default.",
            transform: { text in
                try Set(text.split(separator: ",").map { name in
                    guard let group = FigureGroup(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("--only: \"\(name)\" is not a figure group; groups are \(FigureGroup.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    return group
                })
            })
    var only: Set<FigureGroup> = []

    @Option(help: "The Haven repository (for Benchmarks/ sources); default: found from the current directory.")
    var sourceRoot: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["HAVEN_BENCH_DEBUG"] == nil ? .info : .debug
            return handler
        }
        let logger = Logger(label: "haven-bench")
        // havend and haven are built next to this executable.
        if ProcessInfo.processInfo.environment["HAVEN_BIN_DIR"] == nil {
            let directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
            setenv("HAVEN_BIN_DIR", directory, 1)
        }
        let root = sourceRoot ?? FileManager.default.currentDirectoryPath
        guard FileManager.default.fileExists(atPath: root + "/Benchmarks/c/bench_client.c") else {
            throw ValidationError("run haven-bench from the Haven repository, or pass --source-root")
        }
        let benchmark = BenchmarkRun(scale: smoke ? .smoke : .full, groups: only, sourceRoot: root, logger: logger)
        let report = try await benchmark.run()
        print(report.table)
        print("\n\(report.scale) run in \(Int(report.seconds)) s on \(report.machine.cpus) CPUs (\(report.machine.cpuModel)), SQLite \(report.machine.sqlite)")
        if let json {
            try report.json().write(to: URL(fileURLWithPath: json))
            print("figures written to \(json)")
        }
    }
}
