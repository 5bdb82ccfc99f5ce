import GRDB
import GRDBSQLite

extension Database {
    /// Runs `body` with SQLite's busy handler off: a lock another connection
    /// or process holds is an immediate `SQLITE_BUSY`, not a wait of up to
    /// the configured busy timeout. For work on a thread that must never
    /// wait for a lock (an event loop); the configured handler is back
    /// afterwards. Not to be nested (the inner one would turn the wait back
    /// on for the rest of the outer).
    func withoutWaitingForLocks<T>(_ body: () throws -> T) rethrows -> T {
        sqlite3_busy_timeout(sqliteConnection, 0)
        defer { restoreBusyHandler() }
        return try body()
    }

    /// The busy handler the connection was configured with (Haven's is a
    /// timeout; a callback cannot be put back from here, and Haven sets none).
    func restoreBusyHandler() {
        switch configuration.busyMode {
        case .timeout(let seconds): sqlite3_busy_timeout(sqliteConnection, CInt(seconds * 1000))
        case .immediateError, .callback: sqlite3_busy_timeout(sqliteConnection, 0)
        }
    }
}
