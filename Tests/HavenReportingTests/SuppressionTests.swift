import Foundation
@testable import HavenReporting
import Testing

/// An attacker who sees a published table (zeros shown, suppressed entries
/// known to be at least 1) and tries to work out each suppressed value from
/// the row and column totals. Written independently of the suppression code.
enum Attacker {
    struct Published {
        var rows: Int, columns: Int
        /// nil = suppressed. Index: cells row-major, then row totals, column totals, grand.
        var values: [Int?]
        func cell(_ r: Int, _ c: Int) -> Int { r * columns + c }
        func rowTotal(_ r: Int) -> Int { rows * columns + r }
        func columnTotal(_ c: Int) -> Int { rows * columns + rows + c }
        var grand: Int { rows * columns + rows + columns }

        init(_ s: SuppressedCounts) {
            rows = s.counts.count
            columns = s.counts.first?.count ?? 0
            values = []
            for r in 0..<rows { for c in 0..<columns { values.append(s.cell[r][c] ? nil : s.counts[r][c]) } }
            for r in 0..<rows { values.append(s.rowTotal[r] ? nil : s.rowTotals[r]) }
            for c in 0..<columns { values.append(s.columnTotal[c] ? nil : s.columnTotals[c]) }
            values.append(s.grandTotal ? nil : s.grand)
        }

        /// Each equation: (parts, total).
        var equations: [([Int], Int)] {
            var eq: [([Int], Int)] = []
            for r in 0..<rows { eq.append(((0..<columns).map { cell(r, $0) }, rowTotal(r))) }
            for c in 0..<columns { eq.append(((0..<rows).map { cell($0, c) }, columnTotal(c))) }
            eq.append(((0..<rows).map(rowTotal), grand))
            eq.append(((0..<columns).map(columnTotal), grand))
            return eq
        }
    }

    /// Suppressed entries whose value the attacker can pin down, by bounds propagation.
    static func recovered(_ p: Published) -> [Int] {
        let unknown = p.values.indices.filter { p.values[$0] == nil }
        var lo = [Int: Int](), hi = [Int: Int]()
        for u in unknown { lo[u] = 1; hi[u] = 1_000_000 }
        func b(_ i: Int) -> (Int, Int) { p.values[i].map { ($0, $0) } ?? (lo[i]!, hi[i]!) }
        for _ in 0..<500 {
            var changed = false
            for (parts, total) in p.equations {
                let all = parts + [total]
                for x in all where p.values[x] == nil {
                    var newLo: Int, newHi: Int
                    if x == total {
                        newLo = parts.map { b($0).0 }.reduce(0, +)
                        newHi = parts.map { b($0).1 }.reduce(0, +)
                    } else {
                        let others = parts.filter { $0 != x }
                        newLo = b(total).0 - others.map { b($0).1 }.reduce(0, +)
                        newHi = b(total).1 - others.map { b($0).0 }.reduce(0, +)
                    }
                    if newLo > lo[x]! { lo[x] = newLo; changed = true }
                    if newHi < hi[x]! { hi[x] = newHi; changed = true }
                }
            }
            if !changed { break }
        }
        return unknown.filter { lo[$0]! == hi[$0]! }
    }

    /// For small tables: every integer solution of the published equations;
    /// returns the suppressed entries that have the same value in all of them.
    static func recoveredExhaustively(_ p: Published, bound: Int) -> [Int]? {
        let unknown = p.values.indices.filter { p.values[$0] == nil }
        guard unknown.count <= 5 else { return nil }
        var seen: [Int: Set<Int>] = [:]
        var assignment = p.values
        func consistent() -> Bool {
            for (parts, total) in p.equations {
                let all = parts + [total]
                if all.allSatisfy({ assignment[$0] != nil }) {
                    if parts.map({ assignment[$0]! }).reduce(0, +) != assignment[total]! { return false }
                }
            }
            return true
        }
        func search(_ i: Int) {
            if i == unknown.count {
                for u in unknown { seen[u, default: []].insert(assignment[u]!) }
                return
            }
            for v in 1...bound {
                assignment[unknown[i]] = v
                if consistent() { search(i + 1) }
            }
            assignment[unknown[i]] = nil
        }
        search(0)
        return unknown.filter { (seen[$0]?.count ?? 0) == 1 }
    }
}

@Suite struct SuppressionTests {
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state
        }
    }

    func randomTable(_ rng: inout Seeded, rows: Int, columns: Int, smallish: Bool) -> [[Int]] {
        (0..<rows).map { _ in
            (0..<columns).map { _ in
                let roll = Int.random(in: 0..<10, using: &rng)
                if roll < 2 { return 0 }
                return smallish ? Int.random(in: 1...14, using: &rng) : Int.random(in: 1...60, using: &rng)
            }
        }
    }

    @Test(arguments: [5, 10])
    func noSuppressedValueCanBeRecomputedFromTheTotals(k: Int) {
        var rng = Seeded(state: 42)
        var tablesWithSuppression = 0
        for trial in 0..<400 {
            let rows = Int.random(in: 1...6, using: &rng), columns = Int.random(in: 1...7, using: &rng)
            let counts = randomTable(&rng, rows: rows, columns: columns, smallish: trial % 2 == 0)
            let s = SmallCellSuppression.apply(counts, k: k)
            let published = Attacker.Published(s)
            if published.values.contains(where: { $0 == nil }) { tablesWithSuppression += 1 }
            // Primary: every count shown is 0 or at least k.
            for value in published.values.compactMap({ $0 }) { #expect(value == 0 || value >= k, "table \(trial): \(counts)") }
            // Zero is never suppressed.
            for r in 0..<rows { for c in 0..<columns where counts[r][c] == 0 { #expect(!s.cell[r][c]) } }
            #expect(Attacker.recovered(published).isEmpty, "table \(trial) gives a suppressed value away: \(counts)")
        }
        #expect(tablesWithSuppression > 100)
    }

    @Test func smallTablesResistAnExhaustiveSearch() {
        var rng = Seeded(state: 7)
        var checked = 0
        for _ in 0..<200 {
            let counts = randomTable(&rng, rows: Int.random(in: 1...3, using: &rng), columns: Int.random(in: 1...3, using: &rng), smallish: true)
            let s = SmallCellSuppression.apply(counts, k: 10)
            let published = Attacker.Published(s)
            // The attacker does not know the true values: it tries every value up to 25.
            guard let pinned = Attacker.recoveredExhaustively(published, bound: 25) else { continue }
            checked += 1
            #expect(pinned.isEmpty, "\(counts) gives away entries \(pinned)")
        }
        #expect(checked > 40)
    }

    @Test func aLoneSmallCellGetsAComplement() {
        let s = SmallCellSuppression.apply([[3, 40, 50], [20, 30, 60]], k: 10)
        #expect(s.cell[0][0])
        #expect(s.cell[0].filter { $0 }.count >= 2, "its row hides a second cell")
        #expect(s.cell.map { $0[0] }.filter { $0 }.count >= 2, "its column hides a second cell")
    }

    @Test func aGroupThatSharesOneOutcomeIsSuppressed() {
        // Column 1: everyone in the group had the same result (25 of 25).
        let s = SmallCellSuppression.apply([[25, 30], [0, 40], [0, 35]], k: 10, columnsAreGroups: true)
        #expect(s.cell[0][0])
        #expect(s.columnTotal[0])
        #expect(Attacker.recovered(Attacker.Published(s)).isEmpty)
    }

    @Test func nothingIsSuppressedWhenEverythingIsLarge() {
        let s = SmallCellSuppression.apply([[12, 40], [0, 33]], k: 10)
        #expect(s.cell.flatMap { $0 }.allSatisfy { !$0 })
        #expect(!s.grandTotal)
    }
}
