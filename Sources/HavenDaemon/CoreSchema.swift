import Foundation
import GRDB
import HavenStorage

/// The daemon's own tables (the domain's tables belong to HavenCore).
enum CoreSchema {
    static let namespace = "core"

    static let migrations = MigrationSet(namespace: namespace, migrations: [
        Migration("0001-daemon-meta") { db in
            // Facts about this file and node: its node id, who created it.
            try db.execute(sql: """
                CREATE TABLE haven_meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                ) STRICT
                """)
        },
    ])

    /// This daemon's node id: made once, when the file is created, and kept.
    static func nodeID(_ database: HavenDatabase) throws -> String {
        try database.pool.write { db in
            if let existing = try String.fetchOne(db, sql: "SELECT value FROM haven_meta WHERE key = 'node_id'") {
                return existing
            }
            let id = "node-" + UUID().uuidString.lowercased().prefix(13).replacingOccurrences(of: "-", with: "")
            try db.execute(sql: "INSERT INTO haven_meta (key, value) VALUES ('node_id', ?)", arguments: [id])
            return id
        }
    }
}
