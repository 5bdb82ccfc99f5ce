import CSQLiteSettings
import GRDB
import Logging

/// A write transaction whose commit, under `synchronous=FULL`, writes its
/// WAL frames in writes of up to 124 KiB rather than two a frame (a commit
/// of a group of concerns is about fifty frames: a hundred `pwrite` calls
/// became two). The VFS that does it, and why it is safe around a full
/// commit only, is CSQLiteSettings/wal_write_coalescing.c.
enum WALWriteCoalescing {
    /// `db.inTransaction(.immediate)`, gathering the commit's WAL writes
    /// when `coalesce` is true; the connection must then be in
    /// `synchronous=FULL` mode.
    static func inTransaction(
        _ db: Database, coalesce: Bool, logger: Logger, _ body: () throws -> Database.TransactionCompletion
    ) throws {
        var gathering = false
        var committed = false
        defer {
            if gathering, let connection = db.sqliteConnection {
                // Only a failed commit leaves writes gathered; they belong
                // to a transaction SQLite has rolled back.
                let dropped = haven_wal_coalescing_end(connection)
                if dropped > 0, committed {
                    logger.critical("a full commit left WAL writes unwritten after it returned", metadata: ["bytes": "\(dropped)"])
                }
            }
        }
        try db.inTransaction(.immediate) {
            let completion = try body()
            // Begun last, so only the COMMIT's own writes are gathered; and
            // only once the connection is seen to sync at commit (FULL or
            // EXTRA): a commit that does not would publish frames still
            // gathered (GRDB once left the writer in NORMAL unnoticed). A
            // mode that cannot be read means no gathering, not a failure.
            if coalesce, completion == .commit, let connection = db.sqliteConnection,
               (try? Int.fetchOne(db.cachedStatement(sql: "PRAGMA synchronous"))) ?? 0 >= 2 {
                gathering = haven_wal_coalescing_begin(connection) == 1
            }
            return completion
        }
        committed = true
    }
}
