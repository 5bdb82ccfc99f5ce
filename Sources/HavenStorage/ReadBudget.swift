import Foundation
import GRDB
import GRDBSQLite

/// A bound on how long SQLite works for one read: once it has run past its
/// deadline, SQLite interrupts the statement running then and every later
/// one (`SQLITE_INTERRUPT`), and `spent` says so, even if the read went on
/// without the rows it was refused — so a caller discards what such a read
/// returns. For a read on a thread that must not be held long (an event
/// loop): it is rerun where it may take its time.
final class ReadBudget {
    private let deadline: ContinuousClock.Instant
    private(set) var spent = false

    init(_ budget: Duration) {
        deadline = .now + budget
    }

    /// Runs `body` on `db` within the budget. SQLite calls the handler every
    /// `instructionsPerCheck` virtual-machine instructions (a few
    /// microseconds of work), so reading the clock costs next to nothing.
    func run<T>(on db: Database, _ body: () throws -> T) rethrows -> T {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_progress_handler(db.sqliteConnection, Self.instructionsPerCheck, { context in
            let budget = Unmanaged<ReadBudget>.fromOpaque(context!).takeUnretainedValue()
            if !budget.spent, ContinuousClock.now < budget.deadline { return 0 }
            budget.spent = true
            return 1
        }, context)
        defer { sqlite3_progress_handler(db.sqliteConnection, 0, nil, nil) }
        return try withExtendedLifetime(self) { try body() }
    }

    static let instructionsPerCheck: CInt = 1_000
}
