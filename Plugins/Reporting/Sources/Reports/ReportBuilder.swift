import Foundation
import GRDB
import HavenStorage

/// Runs the aggregate SQL of each built-in report and publishes the results
/// through small-cell suppression. SQL lives here and only here.
struct ReportBuilder {
    struct Filter: Sendable {
        var from: Int64?
        var to: Int64?
        /// nil = every school the caller may report on.
        var schoolIDs: [String]?
        var grade: String?
        var period: Period
        var terms: [Term]
    }

    let k: Int

    /// WHERE clauses for a time column and a student join aliased `st`.
    private func conditions(_ f: Filter, time: String) -> (String, StatementArguments) {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let from = f.from { clauses.append("\(time) >= ?"); arguments += [from] }
        if let to = f.to { clauses.append("\(time) < ?"); arguments += [to] }
        if let schools = f.schoolIDs {
            clauses.append(schools.isEmpty ? "0" : "st.school_id IN (\(databaseQuestionMarks(count: schools.count)))")
            arguments += StatementArguments(schools)
        }
        if let grade = f.grade { clauses.append("st.grade = ?"); arguments += [grade] }
        return (clauses.isEmpty ? "1" : clauses.joined(separator: " AND "), arguments)
    }

    /// Counts grouped by two keys, as a dense matrix.
    private func matrix(_ db: Database, sql: String, arguments: StatementArguments, rowOrder: [String]? = nil, columnOrder: [String]? = nil) throws -> (rows: [String], columns: [String], counts: [[Int]]) {
        let found = try Row.fetchAll(db, sql: sql, arguments: arguments).map { ($0[0] as String? ?? "(none)", $0[1] as String? ?? "(none)", $0[2] as Int) }
        let rows = rowOrder.map { order in order.filter { o in found.contains { $0.0 == o } } + Set(found.map(\.0)).subtracting(order).sorted() } ?? Set(found.map(\.0)).sorted()
        let columns = columnOrder ?? Set(found.map(\.1)).sorted()
        var counts = Array(repeating: Array(repeating: 0, count: columns.count), count: rows.count)
        let rowIndex = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1, $0) })
        let columnIndex = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })
        for (r, c, n) in found {
            if let ri = rowIndex[r], let ci = columnIndex[c] { counts[ri][ci] += n }
        }
        return (rows, columns, counts)
    }

    // MARK: concerns

    func concerns(_ db: Database, _ f: Filter) throws -> [ReportTable] {
        let (condition, arguments) = conditions(f, time: "c.observed_at")
        let base = "FROM concerns c JOIN concern_current cur ON cur.concern_id = c.id JOIN students st ON st.id = c.student_id WHERE \(condition)"
        let period = f.period.sql("c.observed_at", terms: f.terms)
        var tables: [ReportTable] = []
        let byPeriod = try matrix(db, sql: "SELECT cur.category, \(period), COUNT(*) \(base) GROUP BY 1, 2", arguments: arguments)
        tables.append(.counts(id: "concerns-by-period", title: "Concerns by category and \(f.period.rawValue)", rowHeading: "category",
                              rows: byPeriod.rows, columns: byPeriod.columns, counts: byPeriod.counts, k: k))
        let schools = try matrix(db, sql: "SELECT cur.category, sc.name, COUNT(*) \(base.replacingOccurrences(of: "WHERE", with: "JOIN schools sc ON sc.id = st.school_id WHERE")) GROUP BY 1, 2", arguments: arguments, rowOrder: byPeriod.rows)
        tables.append(.counts(id: "concerns-by-school", title: "Concerns by category and school", rowHeading: "category", rows: schools.rows, columns: schools.columns, counts: schools.counts, k: k))
        let grades = try matrix(db, sql: "SELECT cur.category, st.grade, COUNT(*) \(base) GROUP BY 1, 2", arguments: arguments, rowOrder: byPeriod.rows)
        tables.append(.counts(id: "concerns-by-grade", title: "Concerns by category and grade", rowHeading: "category", rows: grades.rows, columns: grades.columns, counts: grades.counts, k: k))
        let severities = try matrix(db, sql: "SELECT cur.category, cur.severity, COUNT(*) \(base) GROUP BY 1, 2", arguments: arguments,
                                    rowOrder: byPeriod.rows, columnOrder: ["low", "moderate", "high", "imminent"])
        tables.append(.counts(id: "concerns-by-severity", title: "Concerns by category and severity", rowHeading: "category", rows: severities.rows, columns: severities.columns, counts: severities.counts, k: k))
        return ReportTable.family(tables, k: k)
    }

    // MARK: screening

    func screening(_ db: Database, _ f: Filter) throws -> [ReportTable] {
        guard try db.tableExists("screening_results") else { return [] }
        let (condition, arguments) = conditions(f, time: "r.submitted_at")
        let base = "FROM screening_results r JOIN screening_administrations a ON a.id = r.administration_id JOIN students st ON st.id = a.student_id WHERE \(condition)"
        let period = f.period.sql("r.submitted_at", terms: f.terms)
        let positive = "(r.flags LIKE '%\"positive_screen\"%')"
        let administered = try matrix(db, sql: "SELECT a.instrument_id, \(period), COUNT(*) \(base) GROUP BY 1, 2", arguments: arguments)
        let positives = try matrix(db, sql: "SELECT a.instrument_id, \(period), SUM(\(positive)) \(base) GROUP BY 1, 2", arguments: arguments,
                                   rowOrder: administered.rows, columnOrder: administered.columns)
        // Results by band and grade, one table per instrument. Each grade is a
        // group: a grade whose screenings all fell in one band is suppressed.
        // Its grand total is the instrument's total in the first table, so
        // the two must hide it together.
        var bands: [(instrument: String, rows: [String], columns: [String], counts: [[Int]])] = []
        for instrument in administered.rows {
            var args = arguments
            args += [instrument]
            let m = try matrix(db, sql: "SELECT r.band, st.grade, COUNT(*) \(base) AND a.instrument_id = ? GROUP BY 1, 2", arguments: args)
            bands.append((instrument, m.rows, m.columns, m.counts))
        }
        var hiddenInstruments: Set<Int> = []
        var admin: ReportTable
        var bandTables: [ReportTable]
        repeat {
            let before = hiddenInstruments
            admin = .counts(id: "screening-by-period", title: "Screenings by instrument and \(f.period.rawValue)", rowHeading: "instrument",
                            rows: administered.rows, columns: administered.columns, counts: administered.counts, k: k, forcedRowTotals: hiddenInstruments)
            for (i, hidden) in (admin.rowTotalSuppressed ?? []).enumerated() where hidden { hiddenInstruments.insert(i) }
            bandTables = bands.enumerated().map { i, b in
                .counts(id: "bands-\(b.instrument)", title: "\(b.instrument): results by band and grade", rowHeading: "band", rows: b.rows,
                        columns: b.columns, counts: b.counts, k: k, columnsAreGroups: true, forceGrand: hiddenInstruments.contains(i))
            }
            for (i, t) in bandTables.enumerated() where t.grandTotalSuppressed { hiddenInstruments.insert(i) }
            if hiddenInstruments == before { break }
        } while true
        let pos = ReportTable.counts(id: "positive-by-period", title: "Positive screens by instrument and \(f.period.rawValue)", rowHeading: "instrument",
                                     rows: positives.rows, columns: positives.columns, counts: positives.counts, k: k)
        return [admin, pos, rate(id: "positive-rate-by-period", title: "Positive rate by instrument and \(f.period.rawValue)", numerator: pos, denominator: admin)]
            + bandTables
    }

    /// Rates from two suppressed count tables: a rate is shown only when both
    /// its counts are, and never when the whole group shares one outcome (0% or 100%).
    func rate(id: String, title: String, numerator: ReportTable, denominator: ReportTable) -> ReportTable {
        var values = denominator.values
        var suppressed = denominator.suppressed
        for r in values.indices {
            for c in values[r].indices {
                let n = numerator.values[r][c], d = denominator.values[r][c]
                values[r][c] = d > 0 ? n / d : 0
                suppressed[r][c] = d == 0 || numerator.suppressed[r][c] || denominator.suppressed[r][c] || n == 0 || n == d
            }
        }
        return ReportTable(id: id, title: title, rowHeading: numerator.rowHeading, columns: denominator.columns, rows: denominator.rows,
                           values: values, suppressed: suppressed, kind: .rate,
                           note: "A rate is suppressed when either of its counts is, or when every screening in the group had the same result.")
    }

    // MARK: referrals

    func referrals(_ db: Database, _ f: Filter) throws -> [ReportTable] {
        guard try db.tableExists("referrals") else { return [] }
        let (condition, arguments) = conditions(f, time: "r.created_at")
        let base = "FROM referrals r JOIN referrals_current c ON c.referral_id = r.id JOIN students st ON st.id = r.student_id WHERE \(condition)"
        let period = f.period.sql("r.created_at", terms: f.terms)
        let priorities = ["emergency", "urgent", "soon", "routine"]
        var tables: [ReportTable] = []
        let volume = try matrix(db, sql: "SELECT r.priority, \(period), COUNT(*) \(base) GROUP BY 1, 2", arguments: arguments, rowOrder: priorities)
        tables.append(.counts(id: "referrals-by-period", title: "Referrals by priority and \(f.period.rawValue)", rowHeading: "priority",
                              rows: volume.rows, columns: volume.columns, counts: volume.counts, k: k))
        // By rule (the team routed to): the same priority totals as above, so the two tables hide them together.
        let byRule = try matrix(db, sql: "SELECT r.priority, r.rule, COUNT(*) \(base) GROUP BY 1, 2", arguments: arguments, rowOrder: volume.rows)
        tables.append(.counts(id: "referrals-by-rule", title: "Referrals by priority and routing rule (team)", rowHeading: "priority",
                              rows: byRule.rows, columns: byRule.columns, counts: byRule.counts, k: k))
        tables = ReportTable.family(tables, k: k)
        let outcome = try matrix(db, sql: """
            SELECT r.priority, x.what, COUNT(*) FROM (
              SELECT r.id, r.priority, 'overdue' AS what \(base) AND c.overdue = 1
              UNION ALL SELECT r.id, r.priority, 'escalated' \(base) AND c.escalation_level > 0
            ) x JOIN referrals r ON r.id = x.id GROUP BY 1, 2
            """, arguments: arguments + arguments, rowOrder: priorities, columnOrder: ["overdue", "escalated"])
        var overdue = ReportTable.counts(id: "referrals-overdue", title: "Overdue and escalated referrals by priority", rowHeading: "priority",
                                         rows: outcome.rows, columns: outcome.columns, counts: outcome.counts, k: k)
        // The columns overlap (a referral can be both), so no sums are published.
        overdue.columnTotals = nil
        overdue.rowTotals = nil
        overdue.grandTotal = nil
        tables.append(overdue)
        let dispositions = try matrix(db, sql: "SELECT c.disposition, r.priority, COUNT(*) \(base) AND c.status = 'closed' GROUP BY 1, 2",
                                      arguments: arguments, columnOrder: priorities)
        tables.append(.counts(id: "referrals-dispositions", title: "Closed referrals by disposition and priority", rowHeading: "disposition",
                              rows: dispositions.rows, columns: dispositions.columns, counts: dispositions.counts, k: k))
        // Time to acknowledgement: median and 90th percentile, shown only for groups of at least k.
        var rows: [String] = []
        var values: [[Double]] = []
        var suppressed: [[Bool]] = []
        for priority in priorities {
            var args = arguments
            args += [priority]
            let seconds = try Double.fetchAll(db, sql: """
                SELECT (c.acknowledged_at - r.created_at) / 1000.0 \(base) AND r.priority = ? AND c.acknowledged_at IS NOT NULL ORDER BY 1
                """, arguments: args)
            guard !seconds.isEmpty else { continue }
            let small = seconds.count < k
            rows.append(priority)
            values.append([Double(seconds.count), percentile(seconds, 0.5), percentile(seconds, 0.9)])
            suppressed.append([small, small, small])
        }
        tables.append(ReportTable(id: "time-to-acknowledge", title: "Time to acknowledgement by priority", rowHeading: "priority",
                                  columns: ["acknowledged", "median", "90th percentile"], rows: rows, values: values, suppressed: suppressed, kind: .duration,
                                  note: "Times are shown only for groups of at least \(k) acknowledged referrals."))
        return tables
    }

    func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = p * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down)), upper = Int(rank.rounded(.up))
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - Double(lower))
    }

    // MARK: caseload

    /// Open work per staff member — for administrators, and not suppressed:
    /// it counts a staff member's workload, not children.
    func caseload(_ db: Database, _ f: Filter) throws -> [ReportTable] {
        var schoolClause = ""
        var arguments: StatementArguments = []
        if let schools = f.schoolIDs {
            schoolClause = schools.isEmpty ? "AND 0" : "AND s.id IN (SELECT staff_id FROM staff_schools WHERE school_id IN (\(databaseQuestionMarks(count: schools.count))))"
            arguments += StatementArguments(schools)
        }
        let hasReferrals = try db.tableExists("referrals")
        let referralCount = hasReferrals ? """
            (SELECT COUNT(DISTINCT r.id) FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
             LEFT JOIN referrals_recipients rr ON rr.referral_id = r.id
             WHERE c.status != 'closed' AND (c.owner_id = s.id OR rr.staff_id = s.id))
            """ : "0"
        let rows = try Row.fetchAll(db, sql: """
            SELECT s.display_name,
                   \(referralCount) AS referrals,
                   (SELECT COUNT(*) FROM concerns cc JOIN concern_current cu ON cu.concern_id = cc.id
                    WHERE cu.status != 'closed' AND cc.student_id IN (SELECT student_id FROM caseload WHERE staff_id = s.id)) AS concerns,
                   (SELECT COUNT(*) FROM caseload WHERE staff_id = s.id) AS students
            FROM staff s WHERE s.active = 1 \(schoolClause)
              AND EXISTS (SELECT 1 FROM staff_roles r WHERE r.staff_id = s.id AND r.role IN ('counselor', 'social_worker', 'psychologist', 'nurse', 'administrator'))
            ORDER BY s.display_name
            """, arguments: arguments)
        return [ReportTable(
            id: "caseload", title: "Open work per staff member", rowHeading: "staff member",
            columns: ["open referrals", "open concerns on caseload", "students on caseload"], rows: rows.map { $0["display_name"] },
            values: rows.map { [Double($0["referrals"] as Int), Double($0["concerns"] as Int), Double($0["students"] as Int)] },
            suppressed: rows.map { _ in [false, false, false] },
            note: "Workload figures for administrators; they count staff work, not children, and are not suppressed.")]
    }
}
