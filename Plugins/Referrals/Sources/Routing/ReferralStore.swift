import Foundation
import GRDB
import HavenStorage

/// SQL for referrals. Everything that happens to a referral is an action row
/// (append-only); `referrals_current` is the derived state kept in the same
/// transaction. Deadlines and escalation steps live in the database, so they
/// survive restarts.
enum ReferralStore {
    static let migration = Migration("0003-referrals") { db in
        try db.execute(sql: """
            CREATE TABLE referrals (
                id TEXT PRIMARY KEY NOT NULL,
                student_id TEXT NOT NULL,
                school_id TEXT NOT NULL,
                rule TEXT NOT NULL,
                reason TEXT NOT NULL,
                priority TEXT NOT NULL,
                event_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                source_type TEXT NOT NULL,
                source_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                acknowledge_by INTEGER NOT NULL,
                origin_node TEXT NOT NULL,
                UNIQUE (event_id, rule)
            ) STRICT;
            CREATE INDEX referrals_by_student ON referrals(student_id, created_at);
            CREATE INDEX referrals_by_source ON referrals(rule, source_id);

            CREATE TABLE referrals_recipients (
                referral_id TEXT NOT NULL REFERENCES referrals(id),
                staff_id TEXT NOT NULL,
                level INTEGER NOT NULL,
                added_by TEXT NOT NULL,
                added_at INTEGER NOT NULL,
                reason TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (referral_id, staff_id)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX referrals_recipients_by_staff ON referrals_recipients(staff_id);

            CREATE TABLE referrals_steps (
                referral_id TEXT NOT NULL REFERENCES referrals(id),
                step INTEGER NOT NULL,
                due_at INTEGER NOT NULL,
                targets TEXT NOT NULL,
                fired_at INTEGER,
                PRIMARY KEY (referral_id, step)
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE referrals_actions (
                id TEXT PRIMARY KEY NOT NULL,
                referral_id TEXT NOT NULL REFERENCES referrals(id),
                kind TEXT NOT NULL,
                actor_id TEXT NOT NULL,
                at INTEGER NOT NULL,
                note TEXT NOT NULL DEFAULT '',
                to_staff_id TEXT NOT NULL DEFAULT '',
                disposition TEXT NOT NULL DEFAULT '',
                origin_node TEXT NOT NULL
            ) STRICT;
            CREATE INDEX referrals_actions_by_referral ON referrals_actions(referral_id, at);

            CREATE TABLE referrals_current (
                referral_id TEXT PRIMARY KEY NOT NULL REFERENCES referrals(id),
                status TEXT NOT NULL,
                owner_id TEXT NOT NULL DEFAULT '',
                escalation_level INTEGER NOT NULL DEFAULT 0,
                overdue INTEGER NOT NULL DEFAULT 0,
                acknowledged_at INTEGER,
                closed_at INTEGER,
                disposition TEXT NOT NULL DEFAULT ''
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX referrals_current_open ON referrals_current(status);

            -- Who raised what was routed (the concern's reporter), to be told if nobody acknowledges.
            CREATE TABLE referrals_raised_by (
                referral_id TEXT PRIMARY KEY NOT NULL REFERENCES referrals(id),
                staff_id TEXT NOT NULL
            ) STRICT;

            CREATE TABLE referrals_external (
                id TEXT PRIMARY KEY NOT NULL,
                referral_id TEXT NOT NULL REFERENCES referrals(id),
                provider TEXT NOT NULL,
                sent_on TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                origin_node TEXT NOT NULL
            ) STRICT;
            CREATE TABLE referrals_external_updates (
                external_id TEXT NOT NULL REFERENCES referrals_external(id),
                at INTEGER NOT NULL,
                status TEXT NOT NULL,
                note TEXT NOT NULL DEFAULT '',
                actor_id TEXT NOT NULL
            ) STRICT;
            """)
    }

    struct NewReferral {
        var id: String
        var studentID: String
        var schoolID: String
        var rule: String
        var reason: String
        var priority: String
        var eventID: String
        var eventType: String
        var sourceType: String
        var sourceID: String
        var createdAt: Int64
        var acknowledgeBy: Int64
        var node: String
    }

    static func exists(_ db: Database, eventID: String, rule: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM referrals WHERE event_id = ? AND rule = ?)"), arguments: [eventID, rule]) ?? false
    }

    /// An open referral from this rule about this record already exists.
    static func openFor(_ db: Database, rule: String, sourceID: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: """
            SELECT r.id FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
            WHERE r.rule = ? AND r.source_id = ? AND c.status != 'closed' LIMIT 1
            """), arguments: [rule, sourceID])
    }

    static func insert(_ db: Database, _ r: NewReferral) throws {
        try db.executeCached("""
            INSERT INTO referrals (id, student_id, school_id, rule, reason, priority, event_id, event_type, source_type, source_id, created_at, acknowledge_by, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [r.id, r.studentID, r.schoolID, r.rule, r.reason, r.priority, r.eventID, r.eventType, r.sourceType, r.sourceID,
                             r.createdAt, r.acknowledgeBy, r.node])
        try db.executeCached("INSERT INTO referrals_current (referral_id, status) VALUES (?, 'open')", [r.id])
    }

    static func addStep(_ db: Database, referralID: String, step: Int, dueAt: Int64, targets: String) throws {
        try db.executeCached("INSERT INTO referrals_steps (referral_id, step, due_at, targets) VALUES (?, ?, ?, ?)", [referralID, step, dueAt, targets])
    }

    /// Adds a recipient unless already one; returns whether it was new.
    @discardableResult
    static func addRecipient(_ db: Database, referralID: String, staffID: String, level: Int, addedBy: String, at: Int64, reason: String) throws -> Bool {
        try db.executeCached("""
            INSERT OR IGNORE INTO referrals_recipients (referral_id, staff_id, level, added_by, added_at, reason) VALUES (?, ?, ?, ?, ?, ?)
            """, [referralID, staffID, level, addedBy, at, reason])
        return db.changesCount > 0
    }

    static func recipients(_ db: Database, referralID: String) throws -> [Row] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT r.*, s.display_name FROM referrals_recipients r LEFT JOIN staff s ON s.id = r.staff_id
            WHERE r.referral_id = ? ORDER BY r.level, r.added_at
            """), arguments: [referralID])
    }

    static func action(_ db: Database, referralID: String, kind: String, actor: String, at: Int64, note: String = "", to: String = "",
                       disposition: String = "", node: String) throws {
        try db.executeCached("""
            INSERT INTO referrals_actions (id, referral_id, kind, actor_id, at, note, to_staff_id, disposition, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [RecordID.make(at: StoredTime.date(at)), referralID, kind, actor, at, note, to, disposition, node])
    }

    static func row(_ db: Database, id: String) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: """
            SELECT r.*, c.status, c.owner_id, c.escalation_level, c.overdue, c.acknowledged_at, c.closed_at, c.disposition
            FROM referrals r JOIN referrals_current c ON c.referral_id = r.id WHERE r.id = ?
            """), arguments: [id])
    }

    static func setCurrent(_ db: Database, id: String, _ assignments: [(String, any DatabaseValueConvertible)]) throws {
        guard !assignments.isEmpty else { return }
        try db.execute(sql: "UPDATE referrals_current SET \(assignments.map { "\($0.0) = ?" }.joined(separator: ", ")) WHERE referral_id = ?",
                       arguments: StatementArguments(assignments.map(\.1)) + [id])
    }

    /// Whether the staff member is on the referral and may see the student through it.
    static func seesThrough(_ db: Database, staffID: String, studentID: String, now: Int64) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: """
            SELECT r.id FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
            JOIN referrals_recipients rr ON rr.referral_id = r.id
            WHERE r.student_id = ? AND rr.staff_id = ? AND c.status != 'closed'
              AND (rr.level = 0 OR r.priority IN ('urgent', 'emergency'))
            UNION
            SELECT r.id FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
            WHERE r.student_id = ? AND c.owner_id = ? AND c.status != 'closed'
            LIMIT 1
            """), arguments: [studentID, staffID, studentID, staffID])
    }

    static func studentsThrough(_ db: Database, staffID: String) throws -> Set<String> {
        Set(try String.fetchAll(db.cachedStatement(sql: """
            SELECT r.student_id FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
            JOIN referrals_recipients rr ON rr.referral_id = r.id
            WHERE rr.staff_id = ? AND c.status != 'closed' AND (rr.level = 0 OR r.priority IN ('urgent', 'emergency'))
            UNION SELECT r.student_id FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
            WHERE c.owner_id = ? AND c.status != 'closed'
            """), arguments: [staffID, staffID]))
    }

    /// Steps due at or before `now` on referrals nobody has acknowledged.
    static func dueSteps(_ db: Database, now: Int64) throws -> [(referralID: String, step: Int, targets: String)] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT s.referral_id, s.step, s.targets FROM referrals_steps s JOIN referrals_current c ON c.referral_id = s.referral_id
            WHERE s.fired_at IS NULL AND s.due_at <= ? AND c.status = 'open' ORDER BY s.due_at
            """), arguments: [now]).map { ($0["referral_id"], $0["step"], $0["targets"]) }
    }

    /// Open referrals whose acknowledgement deadline has passed and that have not been marked overdue.
    static func newlyOverdue(_ db: Database, now: Int64) throws -> [String] {
        try String.fetchAll(db.cachedStatement(sql: """
            SELECT r.id FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
            WHERE c.status = 'open' AND c.overdue = 0 AND r.acknowledge_by <= ? ORDER BY r.acknowledge_by
            """), arguments: [now])
    }

    /// When the scheduler next has work.
    static func nextDue(_ db: Database) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT min(t) FROM (
              SELECT min(s.due_at) AS t FROM referrals_steps s JOIN referrals_current c ON c.referral_id = s.referral_id
              WHERE s.fired_at IS NULL AND c.status = 'open'
              UNION ALL
              SELECT min(r.acknowledge_by) FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
              WHERE c.status = 'open' AND c.overdue = 0)
            """))
    }

    static func nextStepAt(_ db: Database, referralID: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT min(due_at) FROM referrals_steps WHERE referral_id = ? AND fired_at IS NULL"), arguments: [referralID])
    }
}
