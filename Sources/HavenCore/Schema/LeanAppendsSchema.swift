import Foundation
import GRDB
import HavenJSON
import HavenStorage

/// Fewer b-trees on the tables every write appends to. Each b-tree a row
/// goes into is at least one more page in the WAL at every commit, and one
/// more insert for the writer that every write in the school queues for.
/// Three of the seventeen a concern touched served nothing:
///
/// - `outbox.seq` was `AUTOINCREMENT`, which keeps a row in
///   `sqlite_sequence` and updates it on every insert. Its guarantee (a
///   sequence number never reused after the newest row is deleted) is
///   already Haven's: outbox rows are never deleted, so an `INTEGER PRIMARY
///   KEY` gives the same numbers (the largest plus one), and subscribers'
///   cursors stay valid.
/// - `outbox.id` and `audit_log.id` were `UNIQUE`: an index each, never
///   read (events and audit entries are found by sequence, student, actor
///   or type). The ids are UUIDv7s made here, unique by construction; sync
///   keys a node's audit entries by node and sequence (`node_audit_log`).
///
/// Should an outbox's newest events have been deleted by hand (Haven never
/// deletes them), `AUTOINCREMENT` would have gone on after the deleted
/// numbers and the rowid would not: the rebuilt outbox then gets one
/// `outbox.sequence_kept` event at the highest number ever given, so new
/// events still come after every cursor.
///
/// Both tables are rebuilt with the same columns in the same order, and
/// their other indexes and the audit log's guards made again. Dropping the
/// old audit table does not run its DELETE guard (SQLite's DROP TABLE fires
/// no triggers); the copy keeps every entry and the chain verifies as before.
enum LeanAppendsSchema {
    static let migrations: [Migration] = [
        Migration("0007-lean-appends") { db in
            // 0005 made outbox with AUTOINCREMENT, and with it sqlite_sequence.
            let highestGiven = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") ?? 0
            try db.execute(sql: """
                CREATE TABLE outbox_rebuilt (
                    seq INTEGER PRIMARY KEY NOT NULL,
                    id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    student_id TEXT,
                    school_id TEXT,
                    subject_id TEXT,
                    origin_node TEXT NOT NULL,
                    attributes TEXT NOT NULL DEFAULT '{}'
                ) STRICT;
                INSERT INTO outbox_rebuilt (seq, id, type, occurred_at, student_id, school_id, subject_id, origin_node, attributes)
                    SELECT seq, id, type, occurred_at, student_id, school_id, subject_id, origin_node, attributes FROM outbox;
                DROP TABLE outbox;
                ALTER TABLE outbox_rebuilt RENAME TO outbox;
                CREATE INDEX outbox_by_type ON outbox(type, seq);

                CREATE TABLE audit_log_rebuilt (
                    seq INTEGER PRIMARY KEY NOT NULL,
                    id TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    actor_id TEXT NOT NULL,
                    actor_name TEXT NOT NULL,
                    actor_roles TEXT NOT NULL,
                    action TEXT NOT NULL,
                    student_id TEXT NOT NULL DEFAULT '',
                    record_ids TEXT NOT NULL DEFAULT '',
                    fields TEXT NOT NULL DEFAULT '',
                    purpose TEXT NOT NULL DEFAULT '',
                    outcome TEXT NOT NULL,
                    method TEXT NOT NULL DEFAULT '',
                    node TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                ) STRICT;
                INSERT INTO audit_log_rebuilt (seq, id, at, actor_id, actor_name, actor_roles, action, student_id, record_ids,
                                               fields, purpose, outcome, method, node, prev_hash, hash)
                    SELECT seq, id, at, actor_id, actor_name, actor_roles, action, student_id, record_ids,
                           fields, purpose, outcome, method, node, prev_hash, hash FROM audit_log;
                DROP TABLE audit_log;
                ALTER TABLE audit_log_rebuilt RENAME TO audit_log;
                CREATE INDEX audit_by_student ON audit_log(student_id, seq) WHERE student_id != '';
                CREATE INDEX audit_by_actor ON audit_log(actor_id, seq);
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
                    SELECT RAISE(ABORT, 'audit entries cannot be changed');
                END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
                    SELECT RAISE(ABORT, 'audit entries cannot be deleted');
                END;
                """)
            let newest = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM outbox") ?? 0
            if highestGiven > newest {
                try db.execute(sql: """
                    INSERT INTO outbox (seq, id, type, occurred_at, origin_node, attributes) VALUES (?, ?, 'outbox.sequence_kept', ?, ?, ?)
                    """, arguments: [highestGiven, RecordID.make(), StoredTime.ms(Date()), try CoreSchema.meta(db, "node_id") ?? "",
                                     JSONWriter.write(.object([("newest_event_left", .string(String(newest)))]), pretty: false)])
            }
        },
    ]
}
