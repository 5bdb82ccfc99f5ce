import GRDB
import HavenStorage

/// The domain tables. Records carry a UUIDv7 id and their origin node, and
/// are append-only where they can be: amendments, notes, status changes and
/// revocations are rows of their own (see Docs/architecture.md, "Storage").
enum CoreDomainSchema {
    static let migrations: [Migration] = [
        Migration("0002-directory") { db in
            try db.execute(sql: """
                CREATE TABLE schools (
                    id TEXT PRIMARY KEY NOT NULL,
                    source_id TEXT UNIQUE,
                    name TEXT NOT NULL,
                    identifier TEXT NOT NULL DEFAULT '',
                    active INTEGER NOT NULL DEFAULT 1,
                    origin_node TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) STRICT;

                CREATE TABLE students (
                    id TEXT PRIMARY KEY NOT NULL,
                    source_id TEXT UNIQUE,
                    school_id TEXT NOT NULL REFERENCES schools(id),
                    given_name TEXT NOT NULL,
                    family_name TEXT NOT NULL,
                    preferred_name TEXT,
                    grade TEXT NOT NULL DEFAULT '',
                    birth_date TEXT,
                    active INTEGER NOT NULL DEFAULT 1,
                    origin_node TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX students_by_school ON students(school_id, grade);

                -- Name search. External content: the names live once, in students.
                CREATE VIRTUAL TABLE students_fts USING fts5(
                    given_name, family_name, preferred_name,
                    content='students', content_rowid='rowid',
                    tokenize='unicode61 remove_diacritics 2', prefix='2 3');
                CREATE TRIGGER students_fts_insert AFTER INSERT ON students BEGIN
                    INSERT INTO students_fts(rowid, given_name, family_name, preferred_name)
                    VALUES (new.rowid, new.given_name, new.family_name, coalesce(new.preferred_name, ''));
                END;
                CREATE TRIGGER students_fts_delete AFTER DELETE ON students BEGIN
                    INSERT INTO students_fts(students_fts, rowid, given_name, family_name, preferred_name)
                    VALUES ('delete', old.rowid, old.given_name, old.family_name, coalesce(old.preferred_name, ''));
                END;
                CREATE TRIGGER students_fts_update AFTER UPDATE OF given_name, family_name, preferred_name ON students BEGIN
                    INSERT INTO students_fts(students_fts, rowid, given_name, family_name, preferred_name)
                    VALUES ('delete', old.rowid, old.given_name, old.family_name, coalesce(old.preferred_name, ''));
                    INSERT INTO students_fts(rowid, given_name, family_name, preferred_name)
                    VALUES (new.rowid, new.given_name, new.family_name, coalesce(new.preferred_name, ''));
                END;

                CREATE TABLE staff (
                    id TEXT PRIMARY KEY NOT NULL,
                    source_id TEXT UNIQUE,
                    display_name TEXT NOT NULL,
                    email TEXT NOT NULL DEFAULT '',
                    active INTEGER NOT NULL DEFAULT 1,
                    origin_node TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) STRICT;
                CREATE TABLE staff_roles (
                    staff_id TEXT NOT NULL REFERENCES staff(id),
                    role TEXT NOT NULL,
                    PRIMARY KEY (staff_id, role)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX staff_roles_by_role ON staff_roles(role);
                CREATE TABLE staff_schools (
                    staff_id TEXT NOT NULL REFERENCES staff(id),
                    school_id TEXT NOT NULL REFERENCES schools(id),
                    PRIMARY KEY (staff_id, school_id)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX staff_schools_by_school ON staff_schools(school_id);
                CREATE TABLE staff_uids (
                    uid INTEGER PRIMARY KEY NOT NULL,
                    staff_id TEXT NOT NULL REFERENCES staff(id)
                ) STRICT;
                CREATE TABLE caseload (
                    staff_id TEXT NOT NULL REFERENCES staff(id),
                    student_id TEXT NOT NULL REFERENCES students(id),
                    assigned_by TEXT NOT NULL,
                    assigned_at INTEGER NOT NULL,
                    PRIMARY KEY (staff_id, student_id)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX caseload_by_student ON caseload(student_id);

                CREATE TABLE tokens (
                    id TEXT PRIMARY KEY NOT NULL,
                    staff_id TEXT NOT NULL REFERENCES staff(id),
                    name TEXT NOT NULL,
                    secret_hash TEXT NOT NULL UNIQUE,
                    prefix TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    revoked_at INTEGER
                ) STRICT;
                """)
        },
        Migration("0003-concerns") { db in
            try db.execute(sql: """
                -- A concern as first written. Never updated: amendments, notes and
                -- status changes are concern_entries.
                CREATE TABLE concerns (
                    id TEXT PRIMARY KEY NOT NULL,
                    incident_id TEXT NOT NULL,
                    student_id TEXT NOT NULL REFERENCES students(id),
                    school_id TEXT NOT NULL,
                    reporter_id TEXT NOT NULL REFERENCES staff(id),
                    category TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    narrative TEXT NOT NULL,
                    observed_at INTEGER NOT NULL,
                    location TEXT NOT NULL DEFAULT '',
                    told_lead_in_person TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;
                CREATE INDEX concerns_by_student ON concerns(student_id, observed_at);
                CREATE INDEX concerns_by_school ON concerns(school_id, observed_at);
                CREATE INDEX concerns_by_reporter ON concerns(reporter_id, created_at);
                CREATE INDEX concerns_by_observed ON concerns(observed_at);

                CREATE TABLE concern_entries (
                    id TEXT PRIMARY KEY NOT NULL,
                    concern_id TEXT NOT NULL REFERENCES concerns(id),
                    kind TEXT NOT NULL CHECK (kind IN ('note', 'amendment', 'status')),
                    author_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    body TEXT NOT NULL DEFAULT '',
                    field TEXT NOT NULL DEFAULT '',
                    old_value TEXT NOT NULL DEFAULT '',
                    new_value TEXT NOT NULL DEFAULT '',
                    status TEXT NOT NULL DEFAULT '',
                    disposition TEXT NOT NULL DEFAULT '',
                    origin_node TEXT NOT NULL
                ) STRICT;
                CREATE INDEX concern_entries_by_concern ON concern_entries(concern_id, created_at);

                -- The current state of each concern, derived from concerns and
                -- concern_entries and kept in the same transaction, so lists and
                -- reports can filter without replaying history.
                CREATE TABLE concern_current (
                    concern_id TEXT PRIMARY KEY NOT NULL REFERENCES concerns(id),
                    category TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    status TEXT NOT NULL,
                    disposition TEXT NOT NULL DEFAULT '',
                    updated_at INTEGER NOT NULL
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX concern_current_by_status ON concern_current(status);
                """)
        },
        Migration("0004-access") { db in
            try db.execute(sql: """
                CREATE TABLE grants (
                    id TEXT PRIMARY KEY NOT NULL,
                    student_id TEXT NOT NULL REFERENCES students(id),
                    grantee_id TEXT NOT NULL REFERENCES staff(id),
                    granted_by TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    law_enforcement_reason TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;
                CREATE INDEX grants_by_grantee ON grants(grantee_id, student_id);
                CREATE INDEX grants_by_student ON grants(student_id);
                CREATE TABLE grant_revocations (
                    grant_id TEXT PRIMARY KEY NOT NULL REFERENCES grants(id),
                    revoked_by TEXT NOT NULL,
                    revoked_at INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;

                CREATE TABLE emergency_access (
                    id TEXT PRIMARY KEY NOT NULL,
                    student_id TEXT NOT NULL REFERENCES students(id),
                    staff_id TEXT NOT NULL REFERENCES staff(id),
                    reason TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;
                CREATE INDEX emergency_access_by_staff ON emergency_access(staff_id, student_id);
                CREATE INDEX emergency_access_by_student ON emergency_access(student_id);

                CREATE TABLE notifications (
                    id TEXT PRIMARY KEY NOT NULL,
                    recipient_id TEXT NOT NULL REFERENCES staff(id),
                    kind TEXT NOT NULL,
                    message TEXT NOT NULL,
                    student_id TEXT,
                    subject_id TEXT,
                    created_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;
                CREATE INDEX notifications_by_recipient ON notifications(recipient_id, created_at);
                CREATE TABLE notification_reads (
                    notification_id TEXT PRIMARY KEY NOT NULL REFERENCES notifications(id),
                    read_at INTEGER NOT NULL
                ) STRICT;
                """)
        },
        Migration("0005-audit-and-outbox") { db in
            try db.execute(sql: """
                -- Hash-chained: hash = SHA-256(prev_hash + canonical entry).
                CREATE TABLE audit_log (
                    seq INTEGER PRIMARY KEY NOT NULL,
                    id TEXT NOT NULL UNIQUE,
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
                CREATE INDEX audit_by_student ON audit_log(student_id, seq) WHERE student_id != '';
                CREATE INDEX audit_by_actor ON audit_log(actor_id, seq);
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
                    SELECT RAISE(ABORT, 'audit entries cannot be changed');
                END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
                    SELECT RAISE(ABORT, 'audit entries cannot be deleted');
                END;
                -- The chain's head, kept with every append: a truncated tail no
                -- longer matches it.
                CREATE TABLE audit_head (
                    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
                    seq INTEGER NOT NULL,
                    hash TEXT NOT NULL
                ) STRICT;

                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    type TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    student_id TEXT,
                    school_id TEXT,
                    subject_id TEXT,
                    origin_node TEXT NOT NULL,
                    attributes TEXT NOT NULL DEFAULT '{}'
                ) STRICT;
                CREATE INDEX outbox_by_type ON outbox(type, seq);
                CREATE TABLE outbox_cursors (
                    subscriber TEXT PRIMARY KEY NOT NULL,
                    last_seq INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) STRICT;
                """)
        },
    ]
}
