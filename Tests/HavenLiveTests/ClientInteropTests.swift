#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HavenProcess
import HavenTestSupport
import Testing

/// The third-party clients in Clients/ against real havend processes: the
/// Python package's own pytest suite, and the C programs built with
/// Debian's protobuf-c (Scripts/install-test-deps installs both toolchains).
@Suite(.serialized) struct ClientInteropTests {
    static let root = Binaries.packageRoot

    @Test func thePythonClientsTestsPassAgainstARealDaemon() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["HAVEN_BIN_DIR"] = Binaries.directory
        environment.removeValue(forKey: "HAVEN_TOKEN")
        environment.removeValue(forKey: "HAVEN_SOCKET")
        // From the package root, `python3 -m pytest` imports the installed
        // haven_client (pip install ./Clients/python), as a user would.
        let result = try await run("/usr/bin/env", ["python3", "-m", "pytest", Self.root + "/Clients/python/tests", "-q", "-p", "no:cacheprovider"],
                                   environment: environment, timeout: .seconds(300))
        #expect(result.status == 0, """
            the Python client's tests failed (Scripts/install-test-deps installs pytest and ./Clients/python as root):
            \(result.stdout)
            \(result.stderr)
            """)
        #expect(result.stdout.contains(" passed"))
    }

    /// Builds the C clients with the Makefile (warnings are errors) into a scratch directory.
    static func buildCClients() async throws -> String {
        let build = TemporaryDirectory(prefix: "haven-c").file("build")
        let result = try await run("/usr/bin/env", ["make", "-C", root + "/Clients/c", "BUILD=\(build)"], timeout: .seconds(300))
        guard result.status == 0 else {
            throw TestFailure("make -C Clients/c failed (needs protobuf-c-compiler, libprotobuf-c-dev, libprotobuf-dev):\n\(result.stdout)\n\(result.stderr)")
        }
        return build
    }

    @Test func theCHealthClientGetsServingAndBadCallsGetACleanStatus() async throws {
        let build = try await Self.buildCClients()
        let daemon = try await DaemonProcess(arguments: ["--demo"]).start()
        let health = build + "/haven-health"

        let ok = try await run(health, ["--socket", daemon.socketPath])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("status: OK"))
        #expect(ok.stdout.contains("serving: SERVING"))
        #expect(ok.stdout.contains("component database: healthy"))

        let unknown = try await run(health, ["--socket", daemon.socketPath, "--method", "NoSuchMethod"])
        #expect(unknown.status == 3)
        #expect(unknown.stdout.contains("status: 12 UNIMPLEMENTED: haven.v1.Daemon has no method \"NoSuchMethod\""), "\(unknown.stdout)")

        let garbage = try await run(health, ["--socket", daemon.socketPath, "--method", "Hello", "--garbage"])
        #expect(garbage.status == 3)
        #expect(garbage.stdout.contains("status: 3 INVALID_ARGUMENT:"), "\(garbage.stdout)")
        #expect(garbage.stdout.contains("haven.v1.HelloRequest"))

        let stranger = try await run(health, ["--socket", daemon.socketPath, "--token", "hvn_not-a-token"])
        #expect(stranger.status == 3)
        #expect(stranger.stdout.contains("status: 16 UNAUTHENTICATED:"))

        // The bad calls changed nothing: the daemon still serves.
        let again = try await run(health, ["--socket", daemon.socketPath])
        #expect(again.status == 0)
        #expect(try await daemon.stop() == 0)
    }

    @Test func theCEventsClientReplaysAndFollowsTheStream() async throws {
        let build = try await Self.buildCClients()
        let daemon = try await DaemonProcess(arguments: ["--demo"]).start()
        let events = build + "/haven-events"

        let replay = try await run(events, ["--socket", daemon.socketPath, "--from", "1", "--count", "3", "--type", "concern.created"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let lines = replay.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.contains(" concern.created subject=") })
        let sequences: [Int] = lines.compactMap { line in line.split(separator: " ").first.flatMap { Int($0) } }
        #expect(sequences.count == 3)
        #expect(sequences == sequences.sorted())

        // Follow: new events only; a concern logged now arrives.
        let scratch = TemporaryDirectory(prefix: "haven-events")
        let outPath = scratch.file("out")
        let follower = try ChildProcess(events, ["--socket", daemon.socketPath, "--count", "1", "--type", "concern.created"],
                                        stdout: .file(outPath), stderr: .file(outPath))
        defer { follower.stop() }
        let student = "demo-RMS-S1000"
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while follower.isRunning && ContinuousClock.now < deadline {
            let added = try await daemon.cli(["concern", "add", "--student", student, "--category", "bullying", "--severity", "low",
                                              "--narrative", "Pushed in the corridor (synthetic)"])
            #expect(added.status == 0, "\(added.stderr)")
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(!follower.isRunning, "haven-events did not receive the new concern.created event")
        #expect(follower.terminationStatus == 0)
        let followed = try String(contentsOfFile: outPath, encoding: .utf8)
        #expect(followed.contains(" concern.created subject="), "\(followed)")
        #expect(followed.contains("category=bullying"))
        try await daemon.stop()
    }

    @Test func theCEventsClientReportsADenialAsAStatus() async throws {
        let build = try await Self.buildCClients()
        let daemon = try await DaemonProcess(arguments: ["--demo"]).start()
        let denied = try await run(build + "/haven-events", ["--socket", daemon.socketPath, "--token", "hvn_not-a-token"])
        #expect(denied.status == 3)
        #expect(denied.stdout.contains("status: 16 UNAUTHENTICATED:"), "\(denied.stdout)\(denied.stderr)")
        try await daemon.stop()
    }
}
