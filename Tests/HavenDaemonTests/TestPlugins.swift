import GRDB
import HavenConfig
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

struct PluginBroke: Error, CustomStringConvertible {
    var description: String { "the test plugin was told to fail" }
}

/// A configurable plugin for host tests. Its service answers Ping with a Health response.
struct TestPlugin: HavenPlugin {
    var id: String
    var dependencies: [String] = []
    var failsToActivate = false

    var manifest: PluginManifest {
        PluginManifest(id: id, version: "1.2.3", description: "test plugin \(id)", dependencies: dependencies,
                       services: ["test.\(id).v1.Service"])
    }

    var migrations: [Migration] {
        [Migration("0001-table") { [id] db in try db.execute(sql: "CREATE TABLE \(id)_things (x INTEGER)") }]
    }

    struct Settings: Sendable { var greeting: String }

    func readSettings(_ section: ConfigSection) -> any Sendable {
        Settings(greeting: section.string("greeting") ?? "hello")
    }

    func activate(_ context: PluginContext) async throws -> PluginActivation {
        if failsToActivate { throw PluginBroke() }
        let greeting = context.settings(as: Settings.self)?.greeting ?? "?"
        return PluginActivation(services: [
            ServiceDefinition(name: "test.\(id).v1.Service", methods: [
                .unary("Ping", Haven_V1_HealthRequest.self, Haven_V1_ComponentHealth.self, access: .anyone) { _, _ in
                    .with { $0.name = greeting; $0.healthy = true }
                },
                .unary("StaffOnly", Haven_V1_HealthRequest.self, Haven_V1_ComponentHealth.self, access: .staff) { _, _ in
                    .with { $0.name = "secret" }
                },
            ]),
        ])
    }
}
