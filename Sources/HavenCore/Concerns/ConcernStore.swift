import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage

/// SQL for concerns: the record as first written, its entries (notes,
/// amendments, status changes) and the derived current state.
enum ConcernStore {
    struct NewConcern: Sendable {
        var id: String
        var incidentID: String
        var student: StudentRecord
        var reporterID: String
        var category: String
        var severity: String
        var narrative: String
        var observedAt: Int64
        var location: String
        var toldLead: String
        var createdAt: Int64
        var node: String
    }

    static func insert(_ db: Database, _ c: NewConcern) throws {
        try db.executeBound("""
            INSERT INTO concerns (id, incident_id, student_id, school_id, reporter_id, category, severity, narrative,
                                  observed_at, location, told_lead_in_person, created_at, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, c.id, c.incidentID, c.student.id, c.student.schoolID, c.reporterID, c.category, c.severity,
            c.narrative, c.observedAt, c.location, c.toldLead, c.createdAt, c.node)
        try db.executeBound("""
            INSERT INTO concern_current (concern_id, category, severity, status, disposition, updated_at)
            VALUES (?, ?, ?, 'open', '', ?)
            """, c.id, c.category, c.severity, c.createdAt)
    }

    /// The message for a concern just inserted, built from what was written
    /// (reading it back would cost the writer a query per concern).
    static func message(_ c: NewConcern, reporterName: String) -> Haven_V1_Concern {
        Haven_V1_Concern.with {
            $0.id = c.id
            $0.incidentID = c.incidentID
            $0.studentID = c.student.id
            $0.studentName = "\(c.student.preferredName ?? c.student.givenName) \(c.student.familyName)"
            $0.schoolID = c.student.schoolID
            $0.reporterID = c.reporterID
            $0.reporterName = reporterName
            $0.category = c.category
            $0.severity = c.severity
            $0.narrative = c.narrative
            $0.observedAt = .init(ms: c.observedAt)
            $0.location = c.location
            $0.toldLeadInPerson = c.toldLead
            $0.status = "open"
            $0.createdAt = .init(ms: c.createdAt)
            $0.originNode = c.node
            $0.originalCategory = c.category
            $0.originalSeverity = c.severity
            $0.originalNarrative = c.narrative
        }
    }

    struct Entry {
        var kind: String
        var authorID: String
        var body = ""
        var field = ""
        var oldValue = ""
        var newValue = ""
        var status = ""
        var disposition = ""
    }

    static func addEntry(_ db: Database, concernID: String, _ e: Entry, at: Int64, node: String) throws -> String {
        let id = RecordID.make(at: StoredTime.date(at))
        try db.executeCached("""
            INSERT INTO concern_entries (id, concern_id, kind, author_id, created_at, body, field, old_value, new_value, status, disposition, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [id, concernID, e.kind, e.authorID, at, e.body, e.field, e.oldValue, e.newValue, e.status, e.disposition, node])
        // The current state, derived from the whole history the same way
        // whether the entry was written here or arrived by sync.
        try rederiveCurrent(db, concernID: concernID)
        return id
    }

    /// Derives a concern's current state from its whole history, as sync
    /// needs after merging entries written on another node: amendments and
    /// status changes apply in (created_at, id) order, and an entry that lost
    /// a sync conflict is passed over (it stays in the history). Every node
    /// holding the same rows derives the same state.
    static func rederiveCurrent(_ db: Database, concernID: String) throws {
        guard let base = try Row.fetchOne(db.cachedStatement(sql: "SELECT category, severity, created_at FROM concerns WHERE id = ?"),
                                          arguments: [concernID]) else { return }
        var category: String = base["category"]
        var severity: String = base["severity"]
        var status = "open"
        var disposition = ""
        var updated: Int64 = base["created_at"]
        let entries = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT kind, field, new_value, status, disposition, created_at FROM concern_entries e
            WHERE concern_id = ? AND NOT EXISTS (SELECT 1 FROM sync_conflicts x WHERE x.loser_entry_id = e.id)
            ORDER BY created_at, id
            """), arguments: [concernID])
        for entry in entries {
            updated = max(updated, entry["created_at"])
            switch (entry["kind"] as String, entry["field"] as String) {
            case ("amendment", "category"): category = entry["new_value"]
            case ("amendment", "severity"): severity = entry["new_value"]
            case ("status", _):
                status = entry["status"]
                disposition = entry["disposition"]
            default: break
            }
        }
        try db.executeCached("""
            INSERT INTO concern_current (concern_id, category, severity, status, disposition, updated_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(concern_id) DO UPDATE SET category = excluded.category, severity = excluded.severity,
                status = excluded.status, disposition = excluded.disposition, updated_at = excluded.updated_at
            """, [concernID, category, severity, status, disposition, updated])
    }

    static let selectColumns = """
        c.*, cur.category AS cur_category, cur.severity AS cur_severity, cur.status AS cur_status, cur.disposition AS cur_disposition,
        st.given_name, st.family_name, st.preferred_name, rep.display_name AS reporter_name,
        (EXISTS (SELECT 1 FROM sync_link) AND c.origin_node = (SELECT value FROM haven_meta WHERE key = 'node_id')
         AND NOT EXISTS (SELECT 1 FROM sync_pushed p WHERE p.table_name = 'concerns' AND p.key = c.id)) AS waiting_to_sync
        """
    static let joins = """
        FROM concerns c JOIN concern_current cur ON cur.concern_id = c.id
        JOIN students st ON st.id = c.student_id LEFT JOIN staff rep ON rep.id = c.reporter_id
        """

    static func row(_ db: Database, id: String) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(selectColumns) \(joins) WHERE c.id = ?"), arguments: [id])
    }

    /// The concern with its current values; with history when asked.
    static func message(_ db: Database, _ row: Row, history: Bool, columns: ColumnPositions? = nil) throws -> Haven_V1_Concern {
        let c = columns ?? ColumnPositions([row])
        let entries = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT e.*, s.display_name AS author_name FROM concern_entries e LEFT JOIN staff s ON s.id = e.author_id
            WHERE e.concern_id = ? ORDER BY e.created_at, e.id
            """), arguments: [row["id", in: c] as String])
        return message(row, entries: entries, history: history, columns: c)
    }

    /// The message for a concern row and its entries (oldest first).
    /// `columns`, read once from a row of the same query, saves a list or a
    /// timeline looking every column up by name in every row.
    static func message(_ row: Row, entries: [Row], history: Bool, columns: ColumnPositions? = nil) -> Haven_V1_Concern {
        let c = columns ?? ColumnPositions([row])
        let id: String = row["id", in: c]
        var concern = Haven_V1_Concern.with {
            $0.id = id
            $0.waitingToSync = (row["waiting_to_sync", in: c] as Bool?) ?? false
            $0.incidentID = row["incident_id", in: c]
            $0.studentID = row["student_id", in: c]
            let preferredName: String? = row["preferred_name", in: c]
            let givenName: String = row["given_name", in: c]
            let familyName: String = row["family_name", in: c]
            $0.studentName = "\(preferredName ?? givenName) \(familyName)"
            $0.schoolID = row["school_id", in: c]
            $0.reporterID = row["reporter_id", in: c]
            $0.reporterName = (row["reporter_name", in: c] as String?) ?? ""
            $0.category = row["cur_category", in: c]
            $0.severity = row["cur_severity", in: c]
            $0.narrative = row["narrative", in: c]
            $0.observedAt = .init(ms: row["observed_at", in: c] as Int64)
            $0.location = row["location", in: c]
            $0.toldLeadInPerson = row["told_lead_in_person", in: c]
            $0.status = row["cur_status", in: c]
            $0.disposition = row["cur_disposition", in: c]
            $0.createdAt = .init(ms: row["created_at", in: c] as Int64)
            $0.originNode = row["origin_node", in: c]
            $0.originalCategory = row["category", in: c]
            $0.originalSeverity = row["severity", in: c]
            $0.originalNarrative = row["narrative", in: c]
        }
        let e = ColumnPositions(entries)
        // Narrative, location and time are amended by replaying entries;
        // category, severity and status come from concern_current.
        for entry in entries where (entry["kind", in: e] as String) == "amendment" {
            switch ConcernRules.Amended(field: entry["field", in: e], newValue: entry["new_value", in: e]) {
            case .narrative(let text): concern.narrative = text
            case .location(let text): concern.location = text
            case .observedAt(let ms): concern.observedAt = .init(ms: ms)
            case nil: break
            }
        }
        if history {
            concern.history = entries.map { entry in
                Haven_V1_ConcernNote.with {
                    $0.id = entry["id", in: e]
                    $0.kind = entry["kind", in: e]
                    $0.authorID = entry["author_id", in: e]
                    $0.authorName = (entry["author_name", in: e] as String?) ?? ""
                    $0.createdAt = .init(ms: entry["created_at", in: e] as Int64)
                    $0.body = entry["body", in: e]
                    $0.field = entry["field", in: e]
                    $0.oldValue = ConcernRules.shownValue(field: $0.field, stored: entry["old_value", in: e])
                    $0.newValue = ConcernRules.shownValue(field: $0.field, stored: entry["new_value", in: e])
                    $0.status = entry["status", in: e]
                    $0.disposition = entry["disposition", in: e]
                    $0.originNode = entry["origin_node", in: e]
                }
            }
        }
        return concern
    }

    /// What a caller may list: concerns they reported, plus the students whose
    /// whole case they see.
    struct Visibility {
        var reporterID: String
        var district = false
        var schoolIDs: [String] = []
        var caseload = false
        var studentIDs: Set<String> = []
    }

    struct Filter {
        var studentID: String?
        var schoolID: String?
        var category: String?
        var severity: String?
        var status: String?
        var reporterID: String?
        var from: Int64?
        var to: Int64?
        var limit: Int
        var after: (createdAt: Int64, id: String)?
    }

    static func list(_ db: Database, _ filter: Filter, visibility: Visibility) throws -> [Row] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        var visible = ["c.reporter_id = ?"]
        arguments += [visibility.reporterID]
        if visibility.district { visible.append("1") }
        if !visibility.schoolIDs.isEmpty {
            visible.append("c.school_id IN (\(databaseQuestionMarks(count: visibility.schoolIDs.count)))")
            arguments += StatementArguments(visibility.schoolIDs)
        }
        if visibility.caseload {
            visible.append("c.student_id IN (SELECT student_id FROM caseload WHERE staff_id = ?)")
            arguments += [visibility.reporterID]
        }
        if !visibility.studentIDs.isEmpty {
            visible.append("c.student_id IN (\(databaseQuestionMarks(count: visibility.studentIDs.count)))")
            arguments += StatementArguments(Array(visibility.studentIDs))
        }
        clauses.append("(" + visible.joined(separator: " OR ") + ")")
        func add(_ clause: String, _ value: (any DatabaseValueConvertible)?) {
            guard let value else { return }
            clauses.append(clause)
            arguments += [value]
        }
        add("c.student_id = ?", filter.studentID)
        add("c.school_id = ?", filter.schoolID)
        add("cur.category = ?", filter.category)
        add("cur.severity = ?", filter.severity)
        add("cur.status = ?", filter.status)
        add("c.reporter_id = ?", filter.reporterID)
        add("c.observed_at >= ?", filter.from)
        add("c.observed_at < ?", filter.to)
        if let after = filter.after {
            clauses.append("(c.created_at < ? OR (c.created_at = ? AND c.id < ?))")
            arguments += [after.createdAt, after.createdAt, after.id]
        }
        let sql = "SELECT \(selectColumns) \(joins) WHERE \(clauses.joined(separator: " AND ")) ORDER BY c.created_at DESC, c.id DESC LIMIT ?"
        arguments += [filter.limit]
        return try Row.fetchAll(db.statement(assembled: sql), arguments: arguments)
    }
}
