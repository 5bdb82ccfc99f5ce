import Foundation
import HavenTestSupport

/// The programs the unary-call figures need besides havend, built from
/// Benchmarks/ into the run's scratch directory: the C echo server (the
/// floor), the C load generator (the one client for every server), and
/// containerd's ttrpc server in Go (the reference implementation).
struct BaselineTools {
    var echoServer: String
    var benchClient: String
    /// nil with a reason when Go or Debian's ttrpc package is missing.
    var ttrpcServer: String?
    var ttrpcUnavailable: String?

    static func build(into directory: TemporaryDirectory, sourceRoot: String) async throws -> BaselineTools {
        let c = sourceRoot + "/Benchmarks/c"
        let echo = directory.file("echo-server")
        let client = directory.file("bench-client")
        for (output, source) in [(echo, "echo_server.c"), (client, "bench_client.c")] {
            let built = try await run("/usr/bin/env", ["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", output, "\(c)/\(source)"])
            guard built.status == 0 else { throw BenchmarkError("cc \(source) failed (install gcc):\n\(built.stderr)") }
        }
        var tools = BaselineTools(echoServer: echo, benchClient: client)
        // Debian's Go packages build in GOPATH mode, offline.
        let gocode = "/usr/share/gocode"
        guard FileManager.default.fileExists(atPath: gocode + "/src/github.com/containerd/ttrpc") else {
            tools.ttrpcUnavailable = "containerd's ttrpc is not installed (apt-get install golang-go golang-github-containerd-ttrpc-dev)"
            return tools
        }
        let gopath = directory.file("gopath")
        let package = gopath + "/src/ttrpchealth"
        try FileManager.default.createDirectory(atPath: package, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: sourceRoot + "/Benchmarks/go/ttrpc-health/main.go", toPath: package + "/main.go")
        var environment = ProcessInfo.processInfo.environment
        environment["GO111MODULE"] = "off"
        environment["GOPATH"] = "\(gopath):\(gocode)"
        environment["GOCACHE"] = directory.file("gocache")
        environment["GOFLAGS"] = ""
        let output = directory.file("ttrpc-health")
        // (Debian 12's Go 1.19 has no `go build -C`.)
        let built = try await run("/bin/sh", ["-c", "cd \"$0\" && go build -o \"$1\" .", package, output], environment: environment, timeout: .seconds(300))
        if built.status == 0 {
            tools.ttrpcServer = output
        } else {
            tools.ttrpcUnavailable = "building the Go ttrpc server failed: \(built.stderr.prefix(400))"
        }
        return tools
    }
}

public struct BenchmarkError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
