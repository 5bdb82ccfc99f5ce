import Foundation
import GRDB
import HavenStorage

/// The core's migrations (namespace "core") and the facts kept in haven_meta.
public enum CoreSchema {
    public static let namespace = "core"

    public static let migrations = MigrationSet(namespace: namespace, migrations: [
        Migration("0001-daemon-meta") { db in
            // Facts about this file and node: its node id, the local admin account.
            try db.execute(sql: """
                CREATE TABLE haven_meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                ) STRICT
                """)
        },
    ] + CoreDomainSchema.migrations + SyncSchema.migrations + LeanAppendsSchema.migrations)

    static func meta(_ db: Database, _ key: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM haven_meta WHERE key = ?", arguments: [key])
    }

    static func setMeta(_ db: Database, _ key: String, _ value: String) throws {
        try db.execute(sql: "INSERT INTO haven_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }

    /// This daemon's node id: made once, when the file is created, and kept.
    public static func nodeID(_ database: HavenDatabase) throws -> String {
        try database.pool.write { db in
            if let existing = try meta(db, "node_id") { return existing }
            let id = "node-" + UUID().uuidString.lowercased().prefix(13).replacingOccurrences(of: "-", with: "")
            try setMeta(db, "node_id", id)
            return id
        }
    }
}
