import Foundation
import HavenConfig
import HavenDaemon
import HavenPluginAPI
import HavenProto
import HavenRPCClient
import HavenStorage
import HavenTestSupport
import HavenWire
import Logging
import SwiftProtobuf
import Testing

/// The daemon assembled in-process with test plugins, called over its real socket.
@Suite struct PluginHostTests {
    let logger = Logger(label: "test")

    func configuration(_ directory: TemporaryDirectory, _ pluginsTOML: String, plugins: [any HavenPlugin]) throws -> DaemonConfiguration {
        // No local-admin uids: the test process is an ordinary caller here.
        try DaemonConfiguration.parse(
            ConfigDocument(text: pluginsTOML + "\n[access]\nlocal_admin_uids = []\n", name: "test.toml"),
            overrides: CommandLineOverrides(socketPath: directory.file("run/h.sock"), dataDirectory: directory.file("data")),
            plugins: plugins, environment: [:])
    }

    func start(_ toml: String, plugins: [any HavenPlugin]) async throws -> (RunningDaemon, TemporaryDirectory) {
        let directory = TemporaryDirectory()
        let runtime = DaemonRuntime(configuration: try configuration(directory, toml, plugins: plugins), plugins: plugins, logger: logger)
        return (try await runtime.start(), directory)
    }

    @Test func enabledDisabledAndFailedPluginsAreReported() async throws {
        let plugins: [any HavenPlugin] = [
            TestPlugin(id: "alpha"), TestPlugin(id: "beta", failsToActivate: true),
            TestPlugin(id: "gamma"), TestPlugin(id: "delta", dependencies: ["gamma"]),
        ]
        let (daemon, directory) = try await start("[plugins]\nenabled = [\"alpha\", \"beta\", \"delta\"]", plugins: plugins)
        let client = try await RPCClient.connect(unixSocket: daemon.socketPath)
        let list: Haven_V1_ListPluginsResponse = try await client.unary("haven.v1.Daemon", "ListPlugins", Haven_V1_ListPluginsRequest())
        let states = Dictionary(uniqueKeysWithValues: list.plugins.map { ($0.id, $0) })
        #expect(states["alpha"]?.state == .enabled)
        #expect(states["beta"]?.state == .failed)
        #expect(states["beta"]?.error.contains("told to fail") == true)
        #expect(states["gamma"]?.state == .disabled)
        #expect(states["delta"]?.state == .failed)
        #expect(states["delta"]?.error.contains("depends on plugin \"gamma\", which is disabled") == true)
        #expect(states["alpha"]?.services == ["test.alpha.v1.Service"])
        #expect(states["alpha"]?.version == "1.2.3")

        // The running plugin serves; the others answer UNIMPLEMENTED naming the plugin.
        let pong: Haven_V1_ComponentHealth = try await client.unary("test.alpha.v1.Service", "Ping", Haven_V1_HealthRequest())
        #expect(pong.name == "hello")
        do {
            _ = try await client.unary(service: "test.gamma.v1.Service", method: "Ping", payload: [])
            Issue.record("a disabled plugin's service answered")
        } catch let error as RPCError {
            #expect(error.code == .unimplemented)
            #expect(error.message.contains("plugin \"gamma\", which is not enabled"))
            #expect(error.message.contains("add \"gamma\" to [plugins] enabled"))
        }
        do {
            _ = try await client.unary(service: "test.beta.v1.Service", method: "Ping", payload: [])
            Issue.record("a failed plugin's service answered")
        } catch let error as RPCError {
            #expect(error.code == .unimplemented)
            #expect(error.message.contains("failed to start"))
        }

        // Hello lists only what runs; Health reports the failure.
        let hello: Haven_V1_HelloResponse = try await client.unary("haven.v1.Daemon", "Hello", Haven_V1_HelloRequest())
        #expect(hello.plugins.map(\.id) == ["alpha"])
        #expect(hello.caller.uid == getuid())
        #expect(hello.caller.pid == UInt32(getpid()))
        let health: Haven_V1_HealthResponse = try await client.unary("haven.v1.Daemon", "Health", Haven_V1_HealthRequest())
        #expect(health.status == .serving)
        #expect(health.components.contains { $0.name == "plugin:beta" && !$0.healthy })

        // Only enabled plugins were migrated.
        let applied = try daemon.database.appliedMigrations()
        #expect(applied.contains("alpha/0001-table"))
        #expect(!applied.contains("gamma/0001-table"))

        await client.close()
        await daemon.stop()
        _ = directory
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath), "the socket is removed on shutdown")
    }

    @Test func aFailingRequiredPluginStopsTheDaemon() async throws {
        let plugins: [any HavenPlugin] = [TestPlugin(id: "alpha", failsToActivate: true)]
        let directory = TemporaryDirectory()
        let config = try configuration(directory, "[plugins]\nenabled = [\"alpha\"]\nrequired = [\"alpha\"]", plugins: plugins)
        await #expect {
            _ = try await DaemonRuntime(configuration: config, plugins: plugins, logger: logger).start()
        } throws: { error in
            "\(error)".contains("required plugin \"alpha\" failed to start")
        }
        #expect(!FileManager.default.fileExists(atPath: config.socketPath), "nothing listens when start-up fails")
    }

    @Test func aRequiredPluginWhoseDependencyIsDisabledStopsTheDaemon() async throws {
        let plugins: [any HavenPlugin] = [TestPlugin(id: "alpha"), TestPlugin(id: "beta", dependencies: ["alpha"])]
        let directory = TemporaryDirectory()
        let config = try configuration(directory, "[plugins]\nenabled = [\"beta\"]\nrequired = [\"beta\"]", plugins: plugins)
        await #expect {
            _ = try await DaemonRuntime(configuration: config, plugins: plugins, logger: logger).start()
        } throws: { "\($0)".contains("depends on plugin \"alpha\", which is disabled") }
    }

    @Test func describeServesEveryRunningServiceWithItsDescriptors() async throws {
        let (daemon, directory) = try await start("[plugins]\nenabled = [\"alpha\"]", plugins: [TestPlugin(id: "alpha")])
        let client = try await RPCClient.connect(unixSocket: daemon.socketPath)
        let describe: Haven_V1_DescribeResponse = try await client.unary("haven.v1.Daemon", "Describe", Haven_V1_DescribeRequest())
        #expect(describe.services.map(\.name).contains("haven.v1.Daemon"))
        #expect(describe.services.map(\.name).contains("haven.v1.Concerns"))
        let alpha = try #require(describe.services.first { $0.name == "test.alpha.v1.Service" })
        let ping = alpha.methods.first { $0.name == "Ping" }
        #expect(ping?.inputType == "haven.v1.HealthRequest")
        #expect(alpha.pluginID == "alpha")
        let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: describe.fileDescriptorSet)
        #expect(set.file.map(\.name).contains("haven/v1/daemon.proto"))
        #expect(set.file.map(\.name).contains("ttrpc/request.proto"))
        await client.close()
        await daemon.stop()
        _ = directory
    }

    @Test func methodAccessIsEnforcedAndExplained() async throws {
        let (daemon, directory) = try await start("[plugins]\nenabled = [\"alpha\"]", plugins: [TestPlugin(id: "alpha")])
        let client = try await RPCClient.connect(unixSocket: daemon.socketPath)
        do {
            _ = try await client.unary(service: "test.alpha.v1.Service", method: "StaffOnly", payload: [])
            Issue.record("a caller without a staff account reached a staff-only method")
        } catch let error as RPCError {
            #expect(error.code == .permissionDenied)
            #expect(error.message.contains("needs a staff account"))
        }
        await client.close()
        await daemon.stop()
        _ = directory
    }

    @Test func aRestartKeepsTheNodeIDAndMigrationsRunOnce() async throws {
        let directory = TemporaryDirectory()
        let plugins: [any HavenPlugin] = [TestPlugin(id: "alpha")]
        let config = try configuration(directory, "[plugins]\nenabled = [\"alpha\"]", plugins: plugins)
        let first = try await DaemonRuntime(configuration: config, plugins: plugins, logger: logger).start()
        let node = first.nodeID
        await first.stop()
        let second = try await DaemonRuntime(configuration: config, plugins: plugins, logger: logger).start()
        #expect(second.nodeID == node)
        let applied = try second.database.appliedMigrations()
        #expect(applied.first == "core/0001-daemon-meta")
        #expect(applied.last == "alpha/0001-table")
        #expect(Set(applied).count == applied.count)
        await second.stop()
    }
}
