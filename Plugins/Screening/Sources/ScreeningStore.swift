import Foundation
import GRDB
import HavenJSON
import HavenStorage

/// SQL for instruments, administrations, answers, results, annotations and
/// consent. Answers, annotations and consent changes are appended; a result
/// is written once, at submission, and never changed.
enum ScreeningStore {
    static let migrations: [Migration] = [
        Migration("0002-screening") { db in
            try db.execute(sql: """
                CREATE TABLE screening_instruments (
                    id TEXT NOT NULL,
                    version TEXT NOT NULL,
                    title TEXT NOT NULL,
                    document TEXT NOT NULL,       -- {"id", "questionnaire", "scoring"} as imported
                    builtin INTEGER NOT NULL,
                    imported_by TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL,
                    PRIMARY KEY (id, version)
                ) STRICT;

                CREATE TABLE screening_administrations (
                    id TEXT PRIMARY KEY NOT NULL,
                    student_id TEXT NOT NULL,
                    instrument_id TEXT NOT NULL,
                    instrument_version TEXT NOT NULL,
                    context TEXT NOT NULL,
                    reason TEXT NOT NULL DEFAULT '',
                    concern_id TEXT NOT NULL DEFAULT '',
                    started_by TEXT NOT NULL,
                    started_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL,
                    FOREIGN KEY (instrument_id, instrument_version) REFERENCES screening_instruments(id, version)
                ) STRICT;
                CREATE INDEX screening_administrations_by_student ON screening_administrations(student_id, started_at);

                CREATE TABLE screening_answers (
                    administration_id TEXT NOT NULL REFERENCES screening_administrations(id),
                    seq INTEGER NOT NULL,
                    link_id TEXT NOT NULL,
                    value TEXT NOT NULL,
                    answered_by TEXT NOT NULL,
                    answered_at INTEGER NOT NULL,
                    PRIMARY KEY (administration_id, seq)
                ) STRICT;

                CREATE TABLE screening_results (
                    administration_id TEXT PRIMARY KEY NOT NULL REFERENCES screening_administrations(id),
                    total REAL,
                    band TEXT NOT NULL,
                    subscales TEXT NOT NULL,
                    flags TEXT NOT NULL,
                    missing TEXT NOT NULL,
                    guidance TEXT NOT NULL,
                    submitted_by TEXT NOT NULL,
                    submitted_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;
                CREATE INDEX screening_results_by_time ON screening_results(submitted_at);

                CREATE TABLE screening_annotations (
                    id TEXT PRIMARY KEY NOT NULL,
                    administration_id TEXT NOT NULL REFERENCES screening_administrations(id),
                    author_id TEXT NOT NULL,
                    body TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;

                CREATE TABLE screening_consent (
                    id TEXT PRIMARY KEY NOT NULL,
                    student_id TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('granted', 'refused', 'not_asked')),
                    note TEXT NOT NULL DEFAULT '',
                    recorded_by TEXT NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    origin_node TEXT NOT NULL
                ) STRICT;
                CREATE INDEX screening_consent_by_student ON screening_consent(student_id, recorded_at);
                """)
        },
    ]

    // MARK: Instruments

    static func insertInstrument(_ db: Database, _ i: Instrument, document: String, by: String, node: String, at: Int64) throws {
        try db.executeCached("""
            INSERT INTO screening_instruments (id, version, title, document, builtin, imported_by, created_at, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [i.id, i.version, i.title, document, i.builtin, by, at, node])
    }

    static func instrumentExists(_ db: Database, id: String, version: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM screening_instruments WHERE id = ? AND version = ?)"), arguments: [id, version]) ?? false
    }

    static func documents(_ db: Database) throws -> [(document: String, builtin: Bool)] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT document, builtin FROM screening_instruments ORDER BY id, created_at")).map { ($0["document"], $0["builtin"]) }
    }

    // MARK: Administrations

    struct AdministrationRow {
        var id: String
        var studentID: String
        var instrumentID: String
        var instrumentVersion: String
        var context: String
        var reason: String
        var concernID: String
        var startedBy: String
        var startedAt: Int64
        var node: String
        var submitted: Bool
    }

    static func insertAdministration(_ db: Database, _ a: AdministrationRow) throws {
        try db.executeCached("""
            INSERT INTO screening_administrations (id, student_id, instrument_id, instrument_version, context, reason, concern_id, started_by, started_at, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [a.id, a.studentID, a.instrumentID, a.instrumentVersion, a.context, a.reason, a.concernID, a.startedBy, a.startedAt, a.node])
    }

    static func administration(_ db: Database, id: String) throws -> AdministrationRow? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT a.*, r.administration_id IS NOT NULL AS submitted FROM screening_administrations a
            LEFT JOIN screening_results r ON r.administration_id = a.id WHERE a.id = ?
            """), arguments: [id]) else { return nil }
        return AdministrationRow(
            id: row["id"], studentID: row["student_id"], instrumentID: row["instrument_id"], instrumentVersion: row["instrument_version"],
            context: row["context"], reason: row["reason"], concernID: row["concern_id"], startedBy: row["started_by"],
            startedAt: row["started_at"], node: row["origin_node"], submitted: row["submitted"])
    }

    /// What a timeline shows of one administration and its result.
    struct TimelineRow {
        var id: String
        var instrumentID: String
        var instrumentVersion: String
        var context: String
        var startedAt: Int64
        var result: (band: String, total: Double?, flagNames: [String], submittedAt: Int64)?
    }

    /// A student's administrations, newest first, each with what a timeline
    /// shows of its result, in one query: a timeline is read for every
    /// student a counselor opens, and reading each administration and its
    /// whole result (subscales, flags' items) separately took three
    /// statements and a Foundation JSON decode per screening.
    static func timelineRows(_ db: Database, studentID: String) throws -> [TimelineRow] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT a.id, a.instrument_id, a.instrument_version, a.context, a.started_at,
                   r.administration_id IS NOT NULL, r.band, r.total, r.flags, r.submitted_at
            FROM screening_administrations a LEFT JOIN screening_results r ON r.administration_id = a.id
            WHERE a.student_id = ? ORDER BY a.started_at DESC
            """), arguments: [studentID]).map { row in
            TimelineRow(
                id: row[0], instrumentID: row[1], instrumentVersion: row[2], context: row[3], startedAt: row[4],
                result: (row[5] as Bool) ? (band: row[6], total: row[7], flagNames: flags(row[8]).map(\.name), submittedAt: row[9]) : nil)
        }
    }

    /// A result's stored flags (`[{"name": ..., "items": "a,b"}]`, as
    /// `insertResult` writes them); none if the text does not parse.
    static func flags(_ stored: String) -> [(name: String, items: [String])] {
        guard let list = (try? JSONParser.parse(stored))?.arrayValue else { return [] }
        return list.map { flag in
            (flag["name"]?.stringValue ?? "", (flag["items"]?.stringValue ?? "").split(separator: ",").map(String.init))
        }
    }

    static func administrationIDs(_ db: Database, studentID: String, status: String?) throws -> [String] {
        var sql = """
            SELECT a.id FROM screening_administrations a LEFT JOIN screening_results r ON r.administration_id = a.id
            WHERE a.student_id = ?
            """
        if status == "submitted" { sql += " AND r.administration_id IS NOT NULL" }
        if status == "in_progress" { sql += " AND r.administration_id IS NULL" }
        return try String.fetchAll(db.statement(assembled: sql + " ORDER BY a.started_at DESC"), arguments: [studentID])
    }

    /// The latest answer to each item, in the order first answered.
    static func answers(_ db: Database, administrationID: String) throws -> [(linkId: String, value: String)] {
        var order: [String] = []
        var latest: [String: String] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT link_id, value FROM screening_answers WHERE administration_id = ? ORDER BY seq"), arguments: [administrationID]) {
            let id: String = row["link_id"]
            if latest[id] == nil { order.append(id) }
            latest[id] = row["value"]
        }
        return order.map { ($0, latest[$0]!) }
    }

    static func appendAnswers(_ db: Database, administrationID: String, _ answers: [(linkId: String, value: String)], by: String, at: Int64) throws {
        var seq = try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM screening_answers WHERE administration_id = ?"), arguments: [administrationID]) ?? 0
        for (linkId, value) in answers {
            seq += 1
            try db.executeCached("INSERT INTO screening_answers (administration_id, seq, link_id, value, answered_by, answered_at) VALUES (?, ?, ?, ?, ?, ?)", [administrationID, seq, linkId, value, by, at])
        }
    }

    struct ResultRow {
        var total: Double?
        var band: String
        var subscales: [String: Double]
        var flags: [(name: String, items: [String])]
        var missing: [String]
        var guidance: String
        var submittedBy: String
        var submittedAt: Int64
    }

    static func insertResult(_ db: Database, administrationID: String, _ score: Score, by: String, at: Int64, node: String) throws {
        let flags = score.flags.map { ["name": $0.name, "items": $0.items.joined(separator: ",")] }
        try db.executeCached("""
            INSERT INTO screening_results (administration_id, total, band, subscales, flags, missing, guidance, submitted_by, submitted_at, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [administrationID, score.total, score.band, json(score.subscales), json(flags), score.missing.joined(separator: ","),
                             score.guidance, by, at, node])
    }

    static func result(_ db: Database, administrationID: String) throws -> ResultRow? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM screening_results WHERE administration_id = ?"), arguments: [administrationID]) else { return nil }
        let subscales = (try? JSONSerialization.jsonObject(with: Data((row["subscales"] as String).utf8))) as? [String: Double] ?? [:]
        let missing = (row["missing"] as String).split(separator: ",").map(String.init)
        return ResultRow(
            total: row["total"], band: row["band"], subscales: subscales,
            flags: flags(row["flags"]),
            missing: missing, guidance: row["guidance"], submittedBy: row["submitted_by"], submittedAt: row["submitted_at"])
    }

    static func annotations(_ db: Database, administrationID: String) throws -> [Row] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT n.*, s.display_name FROM screening_annotations n LEFT JOIN staff s ON s.id = n.author_id
            WHERE n.administration_id = ? ORDER BY n.created_at
            """), arguments: [administrationID])
    }

    static func annotate(_ db: Database, administrationID: String, author: String, body: String, at: Int64, node: String) throws {
        try db.executeCached("INSERT INTO screening_annotations (id, administration_id, author_id, body, created_at, origin_node) VALUES (?, ?, ?, ?, ?, ?)", [RecordID.make(), administrationID, author, body, at, node])
    }

    // MARK: Consent

    static func consent(_ db: Database, studentID: String) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM screening_consent WHERE student_id = ? ORDER BY recorded_at DESC, id DESC LIMIT 1"), arguments: [studentID])
    }

    static func setConsent(_ db: Database, studentID: String, state: String, note: String, by: String, at: Int64, node: String) throws {
        try db.executeCached("INSERT INTO screening_consent (id, student_id, state, note, recorded_by, recorded_at, origin_node) VALUES (?, ?, ?, ?, ?, ?, ?)", [RecordID.make(at: StoredTime.date(at)), studentID, state, note, by, at, node])
    }

    private static func json(_ value: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }
}
