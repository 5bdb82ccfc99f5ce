import Foundation
import GRDB
import GRDBSQLite
import HavenLocking
import Logging

/// What a traced read must record, written after the read (its audit
/// entries); nil when it has nothing to record. It may run twice — once
/// in the read's transaction, refused when another commit landed
/// meanwhile, then in a transaction of its own — so it must do nothing but
/// write to the database.
public typealias ReadTrace = @Sendable (Database) throws -> Void

/// Connections for reads that leave a trace: a read, and a deferred commit
/// of what it must record in the read's own transaction, on the same
/// connection and beside the writer (`DurableWriter.commitWithRead`).
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
/// When the writer is busy, the trace joins its next batch
/// (`write(.deferred)`), as every trace did before; when all `maximum`
/// connections are in use (or one cannot be opened), the read also runs on
/// a pool reader. Neither costs more than the path every read took before.
final class TracedReaders: Sendable {
    private struct State {
        /// Most recently used last: its cache is the warmest.
        var idle: [DatabaseQueue] = []
        /// Every connection opened, idle or in use.
        var all: [DatabaseQueue] = []
        var opening = 0
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
        var configuration = configuration
        configuration.label = "haven.traced-reader"
        self.configuration = configuration
        self.pool = pool
        self.writer = writer
        self.logger = logger
    }

    /// Runs `read` in a transaction, commits the trace it returns in that
    /// transaction (deferred durability), and returns its value only once the
    /// trace is committed: if the trace cannot be written, the value is not
    /// returned.
    ///
    /// `onThisThreadWithin`: when a connection is idle, the read and its
    /// commit run on the caller's thread, with no hand-off to the
    /// connection's queue and back (two thread wake-ups, about a tenth of a
    /// timeline read's CPU). The caller's thread (an event loop, in havend)
    /// is held meanwhile, so this is bounded: a read that SQLite is still
    /// working on after `budget` is interrupted, rolled back and run again on
    /// the ordinary path; so is one that meets a lock (the busy handler is off
    /// for it). Its trace never waits for a lock there either: when the
    /// read's snapshot cannot write and the write lock is not free, the trace
    /// joins the writer's next batch.
    func read<T: Sendable>(
        onThisThreadWithin budget: Duration? = nil, _ read: @escaping @Sendable (Database) throws -> (T, ReadTrace?)
    ) async throws -> T {
        var readHere: (T, ReadTrace?)?
        if let budget, let connection = checkOutIdle() {
            // Back in the pool before any wait for the writer, as below.
            defer { checkIn(connection) }
            readHere = try readAndTraceHere(connection, within: budget, read)
        }
        let (value, pending): (T, ReadTrace?)
        if let readHere { (value, pending) = readHere } else { (value, pending) = try await readOnItsThread(read) }
        // The writer was busy, or the read ran on the pool: the trace joins
        // the writer's next batch.
        if let pending { try await writer.write(.deferred, pending) }
        return value
    }

    /// The ordinary path: on a traced connection's own queue, or on a pool
    /// reader when all of them are in use.
    private func readOnItsThread<T: Sendable>(_ read: @escaping @Sendable (Database) throws -> (T, ReadTrace?)) async throws -> (T, ReadTrace?) {
        guard let connection = await checkOut() else { return try await pool.read(read) }
        let outcome: Result<(T, ReadTrace?), Error>
        do {
            outcome = .success(try await connection.writeWithoutTransaction { [writer] db in
                try Self.readAndTrace(db, writer: writer, waitingForTheWriteLock: true, read)
            })
        } catch {
            outcome = .failure(error)
        }
        // Back in the pool before any wait for the writer: under writes,
        // that wait is a batch's fsync, and the connection is free already.
        checkIn(connection)
        return try outcome.get()
    }

    /// On the caller's thread (GRDB's synchronous access: libdispatch runs
    /// the block of a serial queue nobody else is using on the calling
    /// thread), within `budget` and without waiting for a lock; nil when the
    /// read must run again on the ordinary path.
    private func readAndTraceHere<T: Sendable>(
        _ connection: DatabaseQueue, within budget: Duration, _ read: (Database) throws -> (T, ReadTrace?)
    ) throws -> (T, ReadTrace?)? {
        try connection.writeWithoutTransaction { db in
            let limit = ReadBudget(budget)
            do {
                return try Self.readAndTrace(db, writer: writer, waitingForTheWriteLock: false, budget: limit, read)
            } catch where limit.spoiled || (error as? DatabaseError)?.resultCode == .SQLITE_BUSY {
                // Too long for this thread, or a lock in the way: rolled back
                // (nothing was committed), to run again where it may wait.
                return nil
            }
        }
    }

    /// The read, then its trace committed in the read's transaction beside
    /// the writer; the trace is returned when it is still to be written (the
    /// writer was busy, or, when not `waitingForTheWriteLock`, the write
    /// lock was not free).
    private static func readAndTrace<T: Sendable>(
        _ db: Database, writer: DurableWriter, waitingForTheWriteLock: Bool, budget: ReadBudget? = nil,
        _ read: (Database) throws -> (T, ReadTrace?)
    ) throws -> (T, ReadTrace?) {
        try db.executeCached("BEGIN DEFERRED")
        // No way out of here leaves the connection inside a transaction
        // (GRDB's rollback ignores an interruption: a cancelled call).
        defer { try? db.rollback() }
        let (value, trace) = try budget.map { budget in try budget.run(on: db) { try read(db) } } ?? read(db)
        // Past its budget or refused a lock, a read may have gone on without
        // the rows it was refused: what it returns is not used.
        if let budget, budget.spoiled {
            throw DatabaseError(resultCode: .SQLITE_INTERRUPT, message: "the read ran past its budget, or met a lock, on this thread")
        }
        // A disk or memory error the read did not pass on may have made
        // SQLite roll the transaction back: what it read is suspect.
        guard db.isInsideTransaction else {
            throw DatabaseError(resultCode: .SQLITE_ABORT, message: "the read's transaction was rolled back by SQLite during the read")
        }
        // Read-only by inspection, not by `PRAGMA query_only`: setting
        // that pragma expires every prepared statement on the
        // connection, and each read would prepare all of its statements
        // anew (it doubled a timeline read's time). The price: a read
        // that writes (a bug, never a client's doing) holds SQLite's
        // write lock until it is rolled back here.
        guard sqlite3_txn_state(db.sqliteConnection, nil) != SQLITE_TXN_WRITE else { throw ReadThatWrote() }
        guard let trace else {
            try db.executeCached("COMMIT")
            return (value, nil)
        }
        let committed = try writer.commitWithRead(db, waitingForTheWriteLock: waitingForTheWriteLock, trace)
        return committed ? (value, nil) : (value, trace)
    }

    /// An idle connection, if there is one (opening one touches the file,
    /// which the caller's thread must not wait for).
    private func checkOutIdle() -> DatabaseQueue? {
        state.withLock { state in state.closed ? nil : state.idle.popLast() }
    }

    private func checkOut() async -> DatabaseQueue? {
        let reuse = state.withLock { state -> DatabaseQueue?? in
            if state.closed { return .some(nil) }
            if let connection = state.idle.popLast() { return connection }
            guard state.all.count + state.opening < Self.maximum else { return .some(nil) }
            state.opening += 1
            return nil
        }
        if let reuse { return reuse }
        // Opening touches the file: not on the caller's thread, which may be
        // a connection's event loop (`MethodDefinition.runningOnEventLoop`).
        return await withCheckedContinuation { opened in
            DispatchQueue.global().async { opened.resume(returning: self.open()) }
        }
    }

    /// A new connection for traced reads, counted in `all`; nil if it could
    /// not be opened or the readers closed meanwhile.
    private func open() -> DatabaseQueue? {
        do {
            // Opened on first use, after every migration (GRDB's schema
            // cache on a queue is not refreshed when another connection
            // changes the schema; the reads here use their own SQL anyway).
            let connection = try DatabaseQueue(path: path, configuration: configuration)
            try connection.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                writer.watchWAL(db)
            }
            let kept = state.withLock { state -> Bool in
                state.opening -= 1
                guard !state.closed else { return false }
                state.all.append(connection)
                return true
            }
            guard kept else {
                // Closed while it opened: this read takes the pool's path.
                try? connection.close()
                return nil
            }
            return connection
        } catch {
            // The ordinary path still works (it needs no new connection).
            state.withLock { $0.opening -= 1 }
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

    /// Takes no more reads and closes every connection. Closing a
    /// connection waits on its queue for a read still running there (a call
    /// the server stopped waiting for) to finish, its trace included; a read
    /// that had not started yet fails (the connection is closed), so no
    /// answer leaves without its trace.
    func close() {
        let all = state.withLock { state -> [DatabaseQueue] in
            state.closed = true
            state.idle = []
            return state.all
        }
        for connection in all { try? connection.close() }
    }
}

/// The read half of a traced read wrote to the database: rolled back, and
/// a bug in the caller (its writes belong in the writer).
struct ReadThatWrote: Error, CustomStringConvertible {
    var description: String { "a read tried to write to the database; it was rolled back" }
}
