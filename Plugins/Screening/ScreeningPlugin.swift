import GRDB
import HavenPluginAPI
import HavenStorage

/// The `screening` plugin: Screening questionnaires (PHQ-A, GAD-7, ASQ, ...) as FHIR Questionnaires, scored exactly, with risk flags.
public struct ScreeningPlugin: HavenPlugin {
    public static let id = "screening"

    public init() {}

    public var manifest: PluginManifest {
        PluginManifest(
            id: Self.id, version: "0.1.0",
            description: "Screening questionnaires (PHQ-A, GAD-7, ASQ, ...) as FHIR Questionnaires, scored exactly, with risk flags",
            services: ["haven.screening.v1.Screening"])
    }

    public var migrations: [Migration] {
        [
            Migration("0001-plugin-state") { db in
                try db.execute(sql: "CREATE TABLE screening_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT")
            },
        ]
    }

    public func activate(_ context: PluginContext) async throws -> PluginActivation {
        PluginActivation()
    }
}
