import GRDB
import HavenStorage

/// Tables for nodes and sync (Docs/sync.md). A server fills `nodes`,
/// `node_sent` and `node_audit_log`; a desktop fills `sync_link`; both keep
/// `sync_conflicts`, which syncs like any record.
enum SyncSchema {
    static let migrations: [Migration] = [
        Migration("0006-nodes-and-sync") { db in
            try db.execute(sql: """
                -- Server: the desktop daemons enrolled with it, by certificate.
                CREATE TABLE nodes (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    fingerprint TEXT NOT NULL UNIQUE,
                    owner_staff_id TEXT NOT NULL REFERENCES staff(id),
                    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
                    requested_at INTEGER NOT NULL,
                    decided_by TEXT NOT NULL DEFAULT '',
                    decided_at INTEGER,
                    reason TEXT NOT NULL DEFAULT '',
                    last_sync_at INTEGER,
                    audit_head_seq INTEGER NOT NULL DEFAULT 0,
                    audit_head_hash TEXT NOT NULL DEFAULT ''
                ) STRICT;

                -- Server: the rows each node has confirmed it holds ("id" or
                -- "id@version"), so a pull sends only what is new to it.
                CREATE TABLE node_sent (
                    node_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    PRIMARY KEY (node_id, key)
                ) STRICT, WITHOUT ROWID;

                -- Server: the students each node's owner saw in full at its last
                -- pull, and rows to take off the node because that changed
                -- (kept until the node confirms it removed them).
                CREATE TABLE node_students (
                    node_id TEXT NOT NULL,
                    student_id TEXT NOT NULL,
                    PRIMARY KEY (node_id, student_id)
                ) STRICT, WITHOUT ROWID;
                CREATE TABLE node_removals (
                    node_id TEXT NOT NULL,
                    table_name TEXT NOT NULL,
                    key TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    PRIMARY KEY (node_id, table_name, key)
                ) STRICT, WITHOUT ROWID;

                -- Server: audit entries written on nodes, exactly as chained there.
                CREATE TABLE node_audit_log (
                    node_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    id TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    actor_id TEXT NOT NULL,
                    actor_name TEXT NOT NULL,
                    actor_roles TEXT NOT NULL,
                    action TEXT NOT NULL,
                    student_id TEXT NOT NULL,
                    record_ids TEXT NOT NULL,
                    fields TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    method TEXT NOT NULL,
                    node TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    PRIMARY KEY (node_id, seq)
                ) STRICT, WITHOUT ROWID;
                CREATE TRIGGER node_audit_log_no_update BEFORE UPDATE ON node_audit_log BEGIN
                    SELECT RAISE(ABORT, 'audit entries cannot be changed');
                END;
                CREATE TRIGGER node_audit_log_no_delete BEFORE DELETE ON node_audit_log BEGIN
                    SELECT RAISE(ABORT, 'audit entries cannot be deleted');
                END;

                -- Desktop: its school server, and how far each way it has synced.
                CREATE TABLE sync_link (
                    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
                    server_host TEXT NOT NULL,
                    server_port INTEGER NOT NULL,
                    server_fingerprint TEXT NOT NULL,
                    server_node_id TEXT NOT NULL,
                    owner_staff_id TEXT NOT NULL,
                    enrolled_at INTEGER NOT NULL,
                    last_attempt_at INTEGER,
                    last_success_at INTEGER,
                    last_error TEXT NOT NULL DEFAULT '',
                    pending_pull INTEGER NOT NULL DEFAULT 0,
                    pushed_audit_seq INTEGER NOT NULL DEFAULT 0
                ) STRICT;
                -- Desktop: rows the server holds (pushed and committed there, or
                -- received from it), so a push sends each row once. Keys, not
                -- rowids: SQLite reuses a rowid once the rows above it are gone.
                CREATE TABLE sync_pushed (
                    table_name TEXT NOT NULL,
                    key TEXT NOT NULL,
                    PRIMARY KEY (table_name, key)
                ) STRICT, WITHOUT ROWID;
                -- Desktop: rows and removals applied here that the server has not
                -- yet been told of; sent with the next push or pull, kept until then.
                CREATE TABLE sync_acks (
                    kind TEXT NOT NULL CHECK (kind IN ('row', 'removal')),
                    table_name TEXT NOT NULL,
                    key TEXT NOT NULL,
                    PRIMARY KEY (kind, table_name, key)
                ) STRICT, WITHOUT ROWID;
                -- Desktop: records made here that the server refused, and why.
                CREATE TABLE sync_rejected (
                    table_name TEXT NOT NULL,
                    key TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    PRIMARY KEY (table_name, key)
                ) STRICT, WITHOUT ROWID;

                -- Both: concurrent changes that a merge had to decide between
                -- (subject: a concern or a referral). The loser stays in the
                -- history; it is only passed over when the current state is derived.
                CREATE TABLE sync_conflicts (
                    id TEXT PRIMARY KEY NOT NULL,
                    subject_type TEXT NOT NULL,
                    subject_id TEXT NOT NULL,
                    student_id TEXT NOT NULL,
                    winner_entry_id TEXT NOT NULL,
                    loser_entry_id TEXT NOT NULL,
                    rule TEXT NOT NULL,
                    detected_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;
                CREATE INDEX sync_conflicts_by_subject ON sync_conflicts(subject_id);
                CREATE INDEX sync_conflicts_by_loser ON sync_conflicts(loser_entry_id);
                """)
        },
    ]
}
