import GRDB
import HavenPluginAPI
import HavenStorage

/// The `reporting` plugin: Aggregate reports with small-cell suppression.
public struct ReportingPlugin: HavenPlugin {
    public static let id = "reporting"

    public init() {}

    public var manifest: PluginManifest {
        PluginManifest(
            id: Self.id, version: "0.1.0",
            description: "Aggregate reports with small-cell suppression",
            services: ["haven.reports.v1.Reports"])
    }

    public var migrations: [Migration] {
        [
            Migration("0001-plugin-state") { db in
                try db.execute(sql: "CREATE TABLE reporting_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT")
            },
        ]
    }

    public func activate(_ context: PluginContext) async throws -> PluginActivation {
        PluginActivation()
    }
}
