/// A table of counts with its margins, and which of its entries are suppressed.
///
/// The grid has one row per row label and one column per column label, plus
/// the row totals, the column totals and the grand total. Every line (a row
/// with its total, a column with its total, the row totals with the grand
/// total, the column totals with the grand total) is an equation a reader
/// could solve; suppression must leave every suppressed value unsolvable.
public struct SuppressedCounts: Sendable, Equatable {
    public var counts: [[Int]]
    public var cell: [[Bool]]
    public var rowTotal: [Bool]
    public var columnTotal: [Bool]
    public var grandTotal: Bool

    public var rowTotals: [Int] { counts.map { $0.reduce(0, +) } }
    public var columnTotals: [Int] { counts.first.map { first in first.indices.map { c in counts.reduce(0) { $0 + $1[c] } } } ?? [] }
    public var grand: Int { counts.flatMap { $0 }.reduce(0, +) }
}

/// Small-cell suppression with complementary suppression.
///
/// 1. Primary: every count from 1 to k-1 — cells and totals — is suppressed.
///    Zero is shown: it identifies nobody.
/// 2. Groups (columns, when the table's columns are groups such as grades):
///    a group whose members all share one outcome has that outcome and its
///    size suppressed.
/// 3. Complementary: a line with exactly one suppressed entry would give it
///    away (total minus the rest), so another entry of that line — the
///    smallest non-zero one — is suppressed too. Repeated until every line
///    has none or at least two.
/// 4. Audit: an interval attack (each suppressed entry is at least 1; every
///    line's equation tightens the bounds of its unknowns) is run on the
///    published table; while it pins any suppressed value, more entries of
///    that value's lines are suppressed.
///
/// Only non-zero entries are ever suppressed, so "suppressed" tells a reader
/// only "at least 1".
public enum SmallCellSuppression {
    /// - Parameters:
    ///   - forcedRowTotals: row totals another table of the same family hides
    ///     (tables that share row totals must hide the same ones).
    public static func apply(_ counts: [[Int]], k: Int, columnsAreGroups: Bool = false,
                             forcedRowTotals: Set<Int> = [], forceGrand: Bool = false) -> SuppressedCounts {
        let rows = counts.count
        let columns = counts.first?.count ?? 0
        var grid = Grid(counts: counts)
        for r in forcedRowTotals where r < rows { grid.suppress(.rowTotal(r)) }
        if forceGrand { grid.suppress(.grand) }
        // 1. Primary.
        for r in 0..<rows {
            for c in 0..<columns where (1..<k).contains(counts[r][c]) { grid.suppress(.cell(r, c)) }
        }
        for r in 0..<rows where (1..<k).contains(grid.rowTotals[r]) { grid.suppress(.rowTotal(r)) }
        for c in 0..<columns where (1..<k).contains(grid.columnTotals[c]) { grid.suppress(.columnTotal(c)) }
        if (1..<k).contains(grid.grand) { grid.suppress(.grand) }
        // 2. A group that shares one outcome.
        if columnsAreGroups {
            for c in 0..<columns {
                let nonZero = (0..<rows).filter { counts[$0][c] > 0 }
                if nonZero.count == 1 {
                    grid.suppress(.cell(nonZero[0], c))
                    grid.suppress(.columnTotal(c))
                }
            }
        }
        // 3 and 4, until stable.
        var changed = true
        var rounds = 0
        while changed, rounds < 1000 {
            changed = false
            rounds += 1
            for line in grid.lines {
                let suppressed = line.filter { grid.isSuppressed($0) }
                if suppressed.count == 1, let extra = grid.smallestUnsuppressedNonZero(in: line) {
                    grid.suppress(extra)
                    changed = true
                }
            }
            if changed { continue }
            for pinned in IntervalAttack.pinned(grid) {
                for line in grid.lines where line.contains(pinned) {
                    if let extra = grid.smallestUnsuppressedNonZero(in: line) {
                        grid.suppress(extra)
                        changed = true
                        break
                    }
                }
                if changed { break }
            }
        }
        return grid.result
    }
}

/// An entry of the table with margins.
public enum Entry: Hashable, Sendable {
    case cell(Int, Int)
    case rowTotal(Int)
    case columnTotal(Int)
    case grand
}

struct Grid {
    let counts: [[Int]]
    let rowTotals: [Int]
    let columnTotals: [Int]
    let grand: Int
    private(set) var suppressed: Set<Entry> = []

    init(counts: [[Int]]) {
        self.counts = counts
        rowTotals = counts.map { $0.reduce(0, +) }
        let columns = counts.first?.count ?? 0
        columnTotals = (0..<columns).map { c in counts.reduce(0) { $0 + $1[c] } }
        grand = rowTotals.reduce(0, +)
    }

    func value(_ e: Entry) -> Int {
        switch e {
        case .cell(let r, let c): counts[r][c]
        case .rowTotal(let r): rowTotals[r]
        case .columnTotal(let c): columnTotals[c]
        case .grand: grand
        }
    }

    mutating func suppress(_ e: Entry) {
        if value(e) > 0 { suppressed.insert(e) }
    }

    func isSuppressed(_ e: Entry) -> Bool { suppressed.contains(e) }

    /// Each equation as its entries; the last entry is the total (the sum of the others).
    var lines: [[Entry]] {
        let rows = counts.count, columns = counts.first?.count ?? 0
        var lines: [[Entry]] = []
        for r in 0..<rows { lines.append((0..<columns).map { .cell(r, $0) } + [.rowTotal(r)]) }
        for c in 0..<columns { lines.append((0..<rows).map { .cell($0, c) } + [.columnTotal(c)]) }
        lines.append((0..<rows).map { .rowTotal($0) } + [.grand])
        lines.append((0..<columns).map { .columnTotal($0) } + [.grand])
        return lines
    }

    func smallestUnsuppressedNonZero(in line: [Entry]) -> Entry? {
        line.filter { !isSuppressed($0) && value($0) > 0 }.min { value($0) < value($1) }
    }

    var result: SuppressedCounts {
        SuppressedCounts(
            counts: counts,
            cell: counts.indices.map { r in counts[r].indices.map { isSuppressed(.cell(r, $0)) } },
            rowTotal: rowTotals.indices.map { isSuppressed(.rowTotal($0)) },
            columnTotal: columnTotals.indices.map { isSuppressed(.columnTotal($0)) },
            grandTotal: isSuppressed(.grand))
    }
}

/// What a reader can infer from a published table: bounds on every
/// suppressed entry from the line equations, tightened until nothing changes.
enum IntervalAttack {
    static func pinned(_ grid: Grid) -> [Entry] {
        var lower: [Entry: Int] = [:]
        var upper: [Entry: Int] = [:]
        for e in grid.suppressed {
            lower[e] = 1
            upper[e] = Int.max / 4
        }
        func bounds(_ e: Entry) -> (Int, Int) {
            grid.isSuppressed(e) ? (lower[e]!, upper[e]!) : (grid.value(e), grid.value(e))
        }
        var changed = true
        var rounds = 0
        while changed, rounds < 200 {
            changed = false
            rounds += 1
            for line in grid.lines {
                let parts = Array(line.dropLast())
                let total = line.last!
                // total = sum(parts): bound every unknown from the others.
                for target in line where grid.isSuppressed(target) {
                    var lo: Int, hi: Int
                    if target == total {
                        lo = parts.reduce(0) { $0 + bounds($1).0 }
                        hi = parts.reduce(0) { min(Int.max / 4, $0 + bounds($1).1) }
                    } else {
                        let (tLo, tHi) = bounds(total)
                        let others = parts.filter { $0 != target }
                        let othersLo = others.reduce(0) { $0 + bounds($1).0 }
                        let othersHi = others.reduce(0) { min(Int.max / 4, $0 + bounds($1).1) }
                        lo = tLo - othersHi
                        hi = tHi - othersLo
                    }
                    if lo > lower[target]! { lower[target] = lo; changed = true }
                    if hi < upper[target]! { upper[target] = hi; changed = true }
                }
            }
        }
        return grid.suppressed.filter { lower[$0]! >= upper[$0]! }.sorted { "\($0)" < "\($1)" }
    }
}
