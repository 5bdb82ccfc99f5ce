import Foundation
import GRDB
@testable import HavenCore
import HavenStorage
import HavenTestSupport
import Logging
import Testing

/// `core/0007-lean-appends` rebuilds `outbox` and `audit_log` without the
/// b-trees no read used, on a file written before it: every row kept, the
/// chain still verifying, the guards still refusing, sequence numbers
/// going on from where they were.
@Suite struct LeanAppendsMigrationTests {
    let logger = Logger(label: "test")

    /// The core's migrations up to (not including) `core/0007-lean-appends`.
    var before: MigrationSet {
        MigrationSet(namespace: CoreSchema.namespace,
                     migrations: CoreSchema.migrations.migrations.filter { $0.name < "0007" })
    }

    func entry(_ n: Int) -> AuditEntryData {
        AuditEntryData(id: RecordID.make(), at: Int64(1_790_000_000_000 + n), actorID: "staff-\(n % 3)",
                       actorName: "Synthetic Staff \(n % 3)", actorRoles: "counselor", action: "timeline.read",
                       studentID: n % 2 == 0 ? "student-\(n)" : "", recordIDs: "", fields: "", purpose: "",
                       outcome: "allowed", method: "haven.v1.Timeline/Get", node: "node-test")
    }

    func insertEvent(_ db: Database, _ n: Int) throws {
        try db.execute(sql: """
            INSERT INTO outbox (id, type, occurred_at, student_id, school_id, subject_id, origin_node, attributes)
            VALUES (?, 'concern.created', ?, ?, 'school-1', ?, 'node-test', '{"n":"\(n)"}')
            """, arguments: [RecordID.make(), 1_790_000_000_000 + n, "student-\(n)", "concern-\(n)"])
    }

    func dump(_ db: Database, _ table: String) throws -> [String] {
        try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY seq").map(\.description)
    }

    /// The indexes and triggers on the two rebuilt tables with their SQL,
    /// and each column's type, constraint, default and position.
    func definitions(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT type || ' ' || name || ': ' || sql FROM sqlite_master
            WHERE type IN ('index', 'trigger') AND sql IS NOT NULL AND tbl_name IN ('outbox', 'audit_log') ORDER BY name
            """)
            + ["outbox", "audit_log"].flatMap { table in
                try Row.fetchAll(db, sql: "SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo(?)", arguments: [table])
                    .map { row -> String in
                        // seq, the rowid, was NOT NULL in effect before; it is now declared so.
                        let notNull = row["name"] == "seq" ? "(rowid)" : "\(row["notnull"] as Int)"
                        return "\(table).\(row["cid"] as Int) \(row["name"] as String) \(row["type"] as String) notnull=\(notNull) default=\(row["dflt_value"] as String? ?? "none") pk=\(row["pk"] as Int)"
                    }
            }
    }

    /// Every index, table and trigger on the two rebuilt tables, by name.
    func schema(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT type || ' ' || name FROM sqlite_master WHERE tbl_name IN ('outbox', 'audit_log') ORDER BY type, name
            """)
    }

    @Test func aFileWrittenBeforeKeepsEveryRowAndGoesOn() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("h.sqlite")
        let old = try HavenDatabase.open(path: path, migrations: [before], knownMigrations: Set(CoreSchema.migrations.identifiers), logger: logger)
        try old.pool.write { db in
            for n in 1...25 {
                try AuditLog.append(db, entry(n))
                try insertEvent(db, n)
            }
            try db.execute(sql: "INSERT INTO outbox_cursors (subscriber, last_seq, updated_at) VALUES ('routing', 20, 0)")
        }
        let (auditBefore, outboxBefore, definitionsBefore) = try old.pool.read { db in
            (try dump(db, "audit_log"), try dump(db, "outbox"), try definitions(db))
        }
        #expect(try old.pool.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_sequence") } == ["outbox"])
        try old.close()

        let migrated = try HavenDatabase.open(path: path, migrations: [CoreSchema.migrations],
                                              knownMigrations: Set(CoreSchema.migrations.identifiers), logger: logger)
        defer { try? migrated.close() }
        try migrated.pool.read { db throws in
            #expect(try dump(db, "audit_log") == auditBefore)
            #expect(try dump(db, "outbox") == outboxBefore)
            #expect(try definitions(db) == definitionsBefore)
            #expect(try AuditLog.verify(db).ok)
            #expect(try Int.fetchOne(db, sql: "SELECT last_seq FROM outbox_cursors WHERE subscriber = 'routing'") == 20)
            #expect(try schema(db) == [
                "index audit_by_actor", "index audit_by_student", "index outbox_by_type",
                "table audit_log", "table outbox",
                "trigger audit_log_no_delete", "trigger audit_log_no_update",
            ])
        }
        #expect(throws: DatabaseError.self) { try migrated.pool.write { try $0.execute(sql: "DELETE FROM audit_log WHERE seq = 1") } }
        #expect(throws: DatabaseError.self) { try migrated.pool.write { try $0.execute(sql: "UPDATE audit_log SET actor_id = 'x' WHERE seq = 2") } }

        try migrated.pool.write { db throws in
            try AuditLog.append(db, entry(26))
            try insertEvent(db, 26)
            #expect(db.lastInsertedRowID == 26)
            // SQLite keeps the emptied sqlite_sequence table; no insert writes to it now.
            #expect(try String.fetchAll(db, sql: "SELECT name FROM sqlite_sequence").isEmpty)
        }
        try migrated.pool.read { db throws in
            #expect(try AuditLog.verify(db) == AuditLog.Verification(ok: true, checked: 26, firstBadSequence: 0, problem: "",
                                                                      headHash: String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = 26")!))
        }
    }

    /// Haven never deletes outbox events, but should the newest have been
    /// deleted by hand, `AUTOINCREMENT` would have numbered the next after
    /// them: the migration keeps that, so no cursor skips a new event.
    @Test func anOutboxWhoseNewestEventsWereDeletedKeepsItsNumbering() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("h.sqlite")
        let old = try HavenDatabase.open(path: path, migrations: [before], knownMigrations: Set(CoreSchema.migrations.identifiers), logger: logger)
        try old.pool.write { db in
            try db.execute(sql: "INSERT INTO haven_meta (key, value) VALUES ('node_id', 'node-test')")
            for n in 1...10 { try insertEvent(db, n) }
            try db.execute(sql: "DELETE FROM outbox WHERE seq > 7")
            try db.execute(sql: "INSERT INTO outbox_cursors (subscriber, last_seq, updated_at) VALUES ('routing', 10, 0)")
        }
        try old.close()

        let migrated = try HavenDatabase.open(path: path, migrations: [CoreSchema.migrations],
                                              knownMigrations: Set(CoreSchema.migrations.identifiers), logger: logger)
        defer { try? migrated.close() }
        try migrated.pool.write { db throws in
            #expect(try String.fetchOne(db, sql: "SELECT type FROM outbox WHERE seq = 10") == "outbox.sequence_kept")
            #expect(try String.fetchOne(db, sql: "SELECT attributes FROM outbox WHERE seq = 10") == #"{"newest_event_left":"7"}"#)
            #expect(try String.fetchOne(db, sql: "SELECT origin_node FROM outbox WHERE seq = 10") == "node-test")
            try insertEvent(db, 11)
            #expect(db.lastInsertedRowID == 11)
        }
    }

    @Test func aNewFileHasTheSameLeanTables() throws {
        let dir = TemporaryDirectory()
        let db = try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [CoreSchema.migrations],
                                        knownMigrations: Set(CoreSchema.migrations.identifiers), logger: logger)
        defer { try? db.close() }
        try db.pool.write { db in try insertEvent(db, 1) }
        try db.pool.read { db throws in
            #expect(try String.fetchAll(db, sql: "SELECT name FROM sqlite_sequence").isEmpty)
            #expect(try schema(db) == [
                "index audit_by_actor", "index audit_by_student", "index outbox_by_type",
                "table audit_log", "table outbox",
                "trigger audit_log_no_delete", "trigger audit_log_no_update",
            ])
            #expect(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_%' AND tbl_name IN ('outbox', 'audit_log')") == [])
        }
    }
}
