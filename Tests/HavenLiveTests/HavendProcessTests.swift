import Foundation
import HavenProto
import HavenRPCClient
import HavenTestSupport
import HavenWire
import Testing

/// A real havend process, driven through its socket, the haven CLI and a
/// client written in another language.
@Suite(.serialized) struct HavendProcessTests {
    @Test func cliStatusPluginsAndCallAgainstARealDaemon() async throws {
        let daemon = try await DaemonProcess().start()
        let status = try await daemon.cli(["status"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("havend 0.1.0, desktop mode"))
        #expect(status.stdout.contains("uid \(getuid())"))
        #expect(status.stdout.contains("SERVING"))

        let json = try await daemon.cli(["status", "--output", "json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((parsed?["hello"] as? [String: Any])?["daemonVersion"] as? String == "0.1.0")

        let plugins = try await daemon.cli(["plugins"])
        #expect(plugins.status == 0)
        for id in ["screening", "referrals", "reporting"] { #expect(plugins.stdout.contains(id)) }

        let call = try await daemon.cli(["call", "haven.v1.Daemon/Hello", "--json", #"{"clientName": "live-test"}"#])
        #expect(call.status == 0, "\(call.stderr)")
        let hello = try JSONSerialization.jsonObject(with: Data(call.stdout.utf8)) as? [String: Any]
        #expect(hello?["mode"] as? String == "desktop")
        #expect(((hello?["caller"] as? [String: Any])?["authMethod"]) as? String == "peer_credentials")

        let list = try await daemon.cli(["call", "--list"])
        #expect(list.stdout.contains("haven.v1.Daemon/Describe"))

        let bad = try await daemon.cli(["call", "haven.v1.Daemon/Hello", "--json", #"{"clientNmae": 1}"#])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("has no field \"clientNmae\""))

        #expect(try await daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath), "SIGTERM removes the socket")
        #expect(daemon.log().contains("havend stopped"))
    }

    @Test func aDisabledPluginsServiceSaysHowToEnableIt() async throws {
        let directory = TemporaryDirectory(prefix: "havend")
        let config = try directory.write("havend.toml", "[plugins]\nenabled = [\"screening\"]\n")
        let daemon = try await DaemonProcess(arguments: ["--config", config], directory: directory).start()
        let result = try await daemon.cli(["call", "haven.reports.v1.Reports/Run"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("UNIMPLEMENTED"))
        #expect(result.stderr.contains("plugin \"reporting\", which is not enabled"))
        #expect(result.stderr.contains(config))
        try await daemon.stop()
    }

    @Test func cliSaysWhereItLookedWhenNoDaemonRuns() async throws {
        let directory = TemporaryDirectory()
        let result = try await run(Binaries.haven, ["status", "--socket", directory.file("none.sock")])
        #expect(result.status == 69)
        #expect(result.stderr.contains("Is havend running? Tried \(directory.file("none.sock"))"))
    }

    @Test func aClientInAnotherLanguageCallsHello() async throws {
        let daemon = try await DaemonProcess().start()
        let script = Binaries.packageRoot + "/Tests/Interop/raw_hello.py"
        let result = try await run("/usr/bin/env", ["python3", script, daemon.socketPath])
        #expect(result.status == 0, "raw_hello.py failed (is the protobuf Python package installed? Scripts/test installs it): \(result.stderr)")
        let hello = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(hello?["daemonVersion"] as? String == "0.1.0")
        let caller = hello?["caller"] as? [String: Any]
        #expect(caller?["authMethod"] as? String == "peer_credentials")
        #expect((caller?["pid"] as? Int ?? 0) > 0)
        try await daemon.stop()
    }

    @Test func badConfigStopsStartUpNamingKeyAndLine() async throws {
        let directory = TemporaryDirectory(prefix: "havend")
        let config = try directory.write("havend.toml", "[daemon]\nlog_level = \"chatty\"\n\n[plugins]\nenabled = [\"screening\"]\nenabeld = []\n")
        let result = try await run(Binaries.havend, ["--config", config, "--socket", directory.file("s.sock"), "--data-dir", directory.file("d")])
        #expect(result.status == 78)
        #expect(result.stderr.contains("\(config):2: daemon.log_level: expected one of"))
        #expect(result.stderr.contains("\(config):6: plugins.enabeld: unknown key"))
        #expect(!FileManager.default.fileExists(atPath: directory.file("d")), "nothing was created")
    }

    @Test func aSecondDaemonOnTheSameSocketIsRefused() async throws {
        let daemon = try await DaemonProcess().start()
        let second = try await run(Binaries.havend, ["--socket", daemon.socketPath, "--data-dir", daemon.directory.file("data2")])
        #expect(second.status != 0)
        #expect(second.stderr.contains("another havend is already listening on \(daemon.socketPath)"))
        let still = try await daemon.cli(["status"])
        #expect(still.status == 0, "the first daemon keeps serving")
        try await daemon.stop()
    }

    @Test func afterSIGKILLTheStaleSocketIsReplaced() async throws {
        let daemon = try await DaemonProcess().start()
        try await daemon.stop(signal: SIGKILL)
        #expect(FileManager.default.fileExists(atPath: daemon.socketPath), "a killed daemon leaves its socket")
        try await daemon.start()
        #expect(daemon.log().contains("replaced a stale socket"))
        #expect(try await daemon.cli(["status"]).status == 0)
        try await daemon.stop()
    }

    @Test func socketDirectoryAndSocketPermissions() async throws {
        let daemon = try await DaemonProcess().start()
        var info = stat()
        stat(daemon.directory.file("run"), &info)
        #expect(info.st_mode & 0o777 == 0o770)
        // Bound beside its path and renamed there once its mode is set: as
        // soon as the socket answers, it has its mode.
        stat(daemon.socketPath, &info)
        #expect(info.st_mode & 0o777 == 0o660)
        try await daemon.stop()
    }

    @Test func oversizedFrameOnTheRealSocket() async throws {
        let daemon = try await DaemonProcess().start()
        let socket = try RawSocket(path: daemon.socketPath)
        try socket.send([0x00, 0x50, 0x00, 0x00, 0, 0, 0, 1, 1, 0])
        let frame = try #require(try readFrame(socket))
        let response = try Ttrpc_Response(serializedBytes: frame.data)
        #expect(response.status.code == StatusCode.resourceExhausted.rawValue)
        #expect(socket.isClosedByPeer())
        #expect(try await daemon.cli(["status"]).status == 0)
        try await daemon.stop()
    }
}
