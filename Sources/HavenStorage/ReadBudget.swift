import Foundation
import GRDB
import GRDBSQLite

/// A bound on how long a read may hold the thread it runs on (an event
/// loop): SQLite's progress handler looks at the clock every
/// `instructionsPerCheck` virtual-machine instructions and, once the
/// deadline has passed, interrupts the statement running then
/// (`SQLITE_INTERRUPT`); a lock the read meets is refused at once instead of
/// waited for (its busy handler says no). Either way the read is `spoiled`,
/// even if it went on without the rows it was refused, and the caller
/// discards what it returns and runs it again where it may take its time.
///
/// The bound is approximate: statements too short to reach a check run to
/// their end, and Swift work between and after statements (building and
/// encoding the answer) is not checked; both grow with what was read.
final class ReadBudget {
    private let deadline: ContinuousClock.Instant
    private(set) var spent = false
    private(set) var blocked = false
    /// The read is not to be used: past its deadline, or refused a lock.
    var spoiled: Bool { spent || blocked }

    init(_ budget: Duration) {
        deadline = .now + budget
    }

    /// Runs `body` on `db` within the budget; the connection's busy handler
    /// (its configured timeout) is back afterwards.
    func run<T>(on db: Database, _ body: () throws -> T) rethrows -> T {
        let connection = db.sqliteConnection
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_progress_handler(connection, Self.instructionsPerCheck, { context in
            let budget = Unmanaged<ReadBudget>.fromOpaque(context!).takeUnretainedValue()
            if !budget.spent, ContinuousClock.now < budget.deadline { return 0 }
            budget.spent = true
            return 1
        }, context)
        sqlite3_busy_handler(connection, { context, _ in
            Unmanaged<ReadBudget>.fromOpaque(context!).takeUnretainedValue().blocked = true
            return 0
        }, context)
        defer {
            sqlite3_progress_handler(connection, 0, nil, nil)
            db.restoreBusyHandler()
        }
        return try withExtendedLifetime(self) { try body() }
    }

    /// A few microseconds of SQLite's work between looks at the clock.
    static let instructionsPerCheck: CInt = 1_000
}
