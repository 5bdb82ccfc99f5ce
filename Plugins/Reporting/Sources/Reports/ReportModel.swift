import Foundation

/// One published table: labels, values, and which are suppressed.
struct ReportTable: Sendable {
    enum Kind: String, Sendable { case count, rate, duration }

    var id: String
    var title: String
    var rowHeading: String
    var columns: [String]
    var rows: [String]
    var values: [[Double]]
    var suppressed: [[Bool]]
    var rowTotals: [Double]?
    var rowTotalSuppressed: [Bool]?
    var columnTotals: [Double]?
    var columnTotalSuppressed: [Bool]?
    var grandTotal: Double?
    var grandTotalSuppressed = false
    var kind: Kind = .count
    var note = ""

    /// A count table with margins, suppressed.
    static func counts(id: String, title: String, rowHeading: String, rows: [String], columns: [String], counts: [[Int]], k: Int,
                       columnsAreGroups: Bool = false, note: String = "", forcedRowTotals: Set<Int> = [], forceGrand: Bool = false) -> ReportTable {
        let s = SmallCellSuppression.apply(counts, k: k, columnsAreGroups: columnsAreGroups, forcedRowTotals: forcedRowTotals, forceGrand: forceGrand)
        return ReportTable(
            id: id, title: title, rowHeading: rowHeading, columns: columns, rows: rows,
            values: counts.map { $0.map(Double.init) }, suppressed: s.cell,
            rowTotals: s.rowTotals.map(Double.init), rowTotalSuppressed: s.rowTotal,
            columnTotals: s.columnTotals.map(Double.init), columnTotalSuppressed: s.columnTotal,
            grandTotal: Double(s.grand), grandTotalSuppressed: s.grandTotal, kind: .count, note: note)
    }

    var counts: [[Int]] { values.map { $0.map { Int($0) } } }

    /// Tables that publish the same row totals (the same rows, broken down
    /// different ways) must hide the same ones, or one table would give away
    /// what another hides. Re-suppresses the family until they agree.
    static func family(_ tables: [ReportTable], k: Int) -> [ReportTable] {
        guard tables.count > 1 else { return tables }
        var result = tables
        for _ in 0..<20 {
            var hidden: Set<String> = []
            var grand = false
            for t in result {
                for (r, label) in t.rows.enumerated() where t.rowTotalSuppressed?[r] == true { hidden.insert(label) }
                grand = grand || t.grandTotalSuppressed
            }
            var changed = false
            result = result.map { t in
                let forced = Set(t.rows.enumerated().filter { hidden.contains($0.element) }.map(\.offset))
                let again = ReportTable.counts(id: t.id, title: t.title, rowHeading: t.rowHeading, rows: t.rows, columns: t.columns,
                                               counts: t.counts, k: k, note: t.note, forcedRowTotals: forced, forceGrand: grand)
                if again.suppressed != t.suppressed || again.rowTotalSuppressed != t.rowTotalSuppressed || again.grandTotalSuppressed != t.grandTotalSuppressed {
                    changed = true
                }
                return again
            }
            if !changed { break }
        }
        return result
    }

    func display(_ value: Double, suppressed: Bool) -> String {
        if suppressed { return "*" }
        switch kind {
        case .count: return String(Int(value))
        case .rate: return "\(Int((value * 100).rounded()))%"
        case .duration:
            if value < 3600 { return "\(Int((value / 60).rounded())) min" }
            return String(format: "%.1f h", value / 3600)
        }
    }
}

/// A finished report, before rendering.
struct ReportData: Sendable {
    var id: String
    var title: String
    var description: String
    var filters: String
    var k: Int
    var generatedAt: Date
    var tables: [ReportTable]
    var notes: [String]
}

/// Reporting periods: calendar weeks or months, or the school's terms.
struct Term: Sendable, Equatable {
    var name: String
    var start: String  // YYYY-MM-DD
    var end: String    // inclusive
}

enum Period: String, Sendable, CaseIterable {
    case week, month, term

    /// SQL giving a row's period label from a millisecond time column.
    func sql(_ column: String, terms: [Term]) -> String {
        let day = "date(\(column) / 1000, 'unixepoch', 'localtime')"
        switch self {
        case .month: return "strftime('%Y-%m', \(column) / 1000, 'unixepoch', 'localtime')"
        case .week: return "date(\(column) / 1000, 'unixepoch', 'localtime', '-6 days', 'weekday 1')"
        case .term:
            guard !terms.isEmpty else { return "strftime('%Y-%m', \(column) / 1000, 'unixepoch', 'localtime')" }
            let cases = terms.map { "WHEN \(day) BETWEEN '\($0.start)' AND '\($0.end)' THEN '\($0.name.replacingOccurrences(of: "'", with: "''"))'" }
            return "CASE \(cases.joined(separator: " ")) ELSE 'outside terms' END"
        }
    }
}
