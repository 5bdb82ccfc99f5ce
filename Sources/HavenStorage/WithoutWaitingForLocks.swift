import GRDB
import GRDBSQLite

extension Database {
    /// Runs `body` with SQLite's busy handler off: a lock another connection
    /// or process holds is an immediate `SQLITE_BUSY`, not a wait of up to
    /// the configured busy timeout. For work on a thread that must never
    /// wait for a lock (an event loop); the configured handler is back
    /// afterwards.
    func withoutWaitingForLocks<T>(_ body: () throws -> T) rethrows -> T {
        guard case .timeout(let seconds) = configuration.busyMode else {
            // No wait to turn off (immediateError); a callback cannot be put
            // back from here, and Haven configures none.
            return try body()
        }
        sqlite3_busy_timeout(sqliteConnection, 0)
        defer { sqlite3_busy_timeout(sqliteConnection, CInt(seconds * 1000)) }
        return try body()
    }
}
