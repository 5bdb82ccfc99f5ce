import GRDB
import HavenStorage

/// A student's concerns as a timeline shows them: one query for the
/// concerns, their current state, their reporters and every entry, read by
/// column position. The timeline used to read them as a concern list does
/// (every column, GRDB rows, a sync-state subquery per row, entries in a
/// second query), build each concern's full message, and then turn that
/// into timeline entries: a quarter of havend's time per timeline read.
struct TimelineConcern {
    struct Entry {
        var id: String
        var kind: String
        var authorName: String
        var createdAt: Int64
        var body: String
        var field: String
        var oldValue: String
        var newValue: String
        var status: String
        var disposition: String
    }

    var id: String
    var reporterID: String
    var reporterName: String
    /// Current values (concern_current).
    var category: String
    var severity: String
    /// As amended: entries replayed in order, as `ConcernStore.message` does.
    var narrative: String
    var observedAt: Int64
    /// Oldest first.
    var entries: [Entry] = []

    private static let sql = """
        SELECT c.id, c.reporter_id, rep.display_name, cur.category, cur.severity, c.narrative, c.observed_at,
               e.id, e.kind, author.display_name, e.created_at, e.body, e.field, e.old_value, e.new_value, e.status, e.disposition
        FROM concerns c JOIN concern_current cur ON cur.concern_id = c.id
        LEFT JOIN staff rep ON rep.id = c.reporter_id
        LEFT JOIN concern_entries e ON e.concern_id = c.id LEFT JOIN staff author ON author.id = e.author_id
        WHERE c.student_id = ?
        ORDER BY c.id, e.created_at, e.id
        """

    /// Every concern about `studentID`, with its entries.
    static func all(_ db: Database, studentID: String) throws -> [TimelineConcern] {
        var concerns: [TimelineConcern] = []
        try db.forEachBound(sql, studentID) { row in
            let id = row.text(0)
            if concerns.last?.id != id {
                concerns.append(TimelineConcern(
                    id: id, reporterID: row.text(1), reporterName: row.optionalText(2) ?? "", category: row.text(3),
                    severity: row.text(4), narrative: row.text(5), observedAt: row.int64(6)))
            }
            // A concern with no entries: its one row has no entry columns.
            guard let entryID = row.optionalText(7) else { return }
            let entry = Entry(
                id: entryID, kind: row.text(8), authorName: row.optionalText(9) ?? "", createdAt: row.int64(10), body: row.text(11),
                field: row.text(12), oldValue: row.text(13), newValue: row.text(14), status: row.text(15), disposition: row.text(16))
            concerns[concerns.count - 1].apply(entry)
        }
        return concerns
    }

    /// Entries come oldest first; amendments are replayed as a concern's
    /// message replays them (`ConcernRules.Amended`; a timeline does not
    /// show the location).
    private mutating func apply(_ entry: Entry) {
        entries.append(entry)
        guard entry.kind == "amendment" else { return }
        switch ConcernRules.Amended(field: entry.field, newValue: entry.newValue) {
        case .narrative(let text): narrative = text
        case .observedAt(let ms): observedAt = ms
        case .location, nil: break
        }
    }
}
