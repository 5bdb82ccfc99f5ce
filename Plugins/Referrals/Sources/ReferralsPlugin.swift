import GRDB
import HavenPluginAPI
import HavenStorage

/// The `referrals` plugin: Routes concerns and screenings to the adult who must act, with deadlines and escalation.
public struct ReferralsPlugin: HavenPlugin {
    public static let id = "referrals"

    public init() {}

    public var manifest: PluginManifest {
        PluginManifest(
            id: Self.id, version: "0.1.0",
            description: "Routes concerns and screenings to the adult who must act, with deadlines and escalation",
            services: ["haven.referrals.v1.Referrals"])
    }

    public var migrations: [Migration] {
        [
            Migration("0001-plugin-state") { db in
                try db.execute(sql: "CREATE TABLE referrals_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT")
            },
        ]
    }

    public func activate(_ context: PluginContext) async throws -> PluginActivation {
        PluginActivation()
    }
}
