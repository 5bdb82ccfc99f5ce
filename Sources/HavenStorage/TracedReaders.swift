import Foundation
import GRDB
import GRDBSQLite
import HavenLocking
import Logging

/// What a traced read must record, written after the read (its audit
/// entries); nil when it has nothing to record.
public typealias ReadTrace = @Sendable (Database) throws -> Void

/// Connections for reads that leave a trace: a read, then a deferred commit
/// of what it must record, on the same connection and beside the writer
/// (`DurableWriter.commitBeside`).
///
/// A read of a student's record commits its audit entry before the answer
/// leaves. Committed by the writer, that entry made every reader connection
/// drop its page cache (SQLite resets a connection's cache when another one
/// has committed since its last read), so every read started cold, and it
/// cost two more thread hand-offs (to the writer and back). Committed here,
/// the connection that read keeps its cache and no other thread is woken.
/// These connections are read-write and run with `synchronous = NORMAL`;
/// a read that writes is rolled back and refused (`ReadThatWrote`).
///
/// When the writer is busy, or all `maximum` connections are in use, a read
/// takes the ordinary path — a pool reader, then `write(.deferred)` — which
/// costs what it did before, never more.
final class TracedReaders: Sendable {
    private struct State {
        /// Most recently used last: its cache is the warmest.
        var idle: [DatabaseQueue] = []
        var opened = 0
        var closed = false
    }

    /// Enough for the concurrent reads of one school's staff on a small
    /// server; more reads than this at once take the ordinary path.
    static let maximum = 4

    private let path: String
    private let configuration: Configuration
    private let pool: DatabasePool
    private let writer: DurableWriter
    private let logger: Logger
    private let state = Locked(State())

    init(path: String, configuration: Configuration, pool: DatabasePool, writer: DurableWriter, logger: Logger) {
        self.path = path
        self.configuration = configuration
        self.pool = pool
        self.writer = writer
        self.logger = logger
    }

    /// Runs `read` in a read-only transaction, then commits the trace it
    /// returns (deferred durability), and returns its value only once the
    /// trace is committed: if the trace cannot be written, the value is not
    /// returned.
    func read<T: Sendable>(_ read: @escaping @Sendable (Database) throws -> (T, ReadTrace?)) async throws -> T {
        guard let connection = checkOut() else {
            let (value, trace) = try await pool.read(read)
            if let trace { try await writer.write(.deferred, trace) }
            return value
        }
        defer { checkIn(connection) }
        let (value, pending) = try await connection.writeWithoutTransaction { [writer] db -> (T, ReadTrace?) in
            var outcome: (T, ReadTrace?)?
            try db.inTransaction(.deferred) {
                outcome = try read(db)
                // Read-only by inspection, not by `PRAGMA query_only`:
                // setting that pragma expires every prepared statement on
                // the connection, and each read would prepare all of its
                // statements anew (it doubled a timeline read's time).
                guard sqlite3_txn_state(db.sqliteConnection, nil) != SQLITE_TXN_WRITE else { throw ReadThatWrote() }
                return .commit
            }
            let (value, trace) = outcome!
            guard let trace else { return (value, nil) }
            return try writer.commitBeside(db, trace) ? (value, nil) : (value, trace)
        }
        // The writer was busy: the trace joins its next batch.
        if let pending { try await writer.write(.deferred, pending) }
        return value
    }

    private func checkOut() -> DatabaseQueue? {
        let reuse = state.withLock { state -> DatabaseQueue?? in
            if state.closed { return .some(nil) }
            if let connection = state.idle.popLast() { return connection }
            guard state.opened < Self.maximum else { return .some(nil) }
            state.opened += 1
            return nil
        }
        if let reuse { return reuse }
        do {
            let connection = try DatabaseQueue(path: path, configuration: configuration)
            try connection.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                writer.watchWAL(db)
            }
            return connection
        } catch {
            // The ordinary path still works (it needs no new connection).
            state.withLock { $0.opened -= 1 }
            logger.warning("could not open a connection for traced reads; reading through the pool", metadata: ["error": "\(error)"])
            return nil
        }
    }

    private func checkIn(_ connection: DatabaseQueue) {
        let keep = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.idle.append(connection)
            return true
        }
        if !keep { try? connection.close() }
    }

    /// Closes the idle connections; one still in use closes when its read ends.
    func close() {
        let idle = state.withLock { state -> [DatabaseQueue] in
            state.closed = true
            defer { state.idle = [] }
            return state.idle
        }
        for connection in idle { try? connection.close() }
    }
}

/// The read half of a traced read wrote to the database: rolled back, and
/// a bug in the caller (its writes belong in the writer).
struct ReadThatWrote: Error, CustomStringConvertible {
    var description: String { "a read tried to write to the database; it was rolled back" }
}
