#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDB
import GRDBSQLite
import Logging
import HavenLocking
import Synchronization

/// A caller's savepoint could not be rolled back inside a live transaction:
/// its batch must not commit.
private struct SavepointRollbackFailed: Error {
    let underlying: Error
}

/// How long a commit must wait before its caller is told "saved".
public enum Durability: Sendable {
    /// On disk before the caller resumes (`synchronous=FULL`: an fsync of
    /// the WAL). Every change to a record, every write a user is told about.
    case full
    /// In the WAL before the caller resumes, so it survives the daemon being
    /// killed; on disk at the next `.full` commit or within `flushInterval`,
    /// whichever comes first. For the audit entries of reads (a look at a
    /// record should not cost an fsync, and a power cut can lose at most the
    /// last second of them — never a change to a record) and for outbox
    /// cursors (one taken back re-delivers events, which subscribers take at
    /// least once anyway).
    case deferred
}

/// Runs write transactions so that concurrent callers share commits (group
/// commit) without anyone being told "saved" before the commit is on disk.
///
/// Each caller's work runs inside one transaction; a caller whose work throws
/// is rolled back alone and gets its error (the rest of its batch is run
/// again with a savepoint per caller). When the transaction commits (an fsync
/// under `synchronous=FULL`), every caller in the batch is resumed. While one batch commits, the next one gathers, so a
/// lone writer waits for nobody and many writers pay for few fsyncs.
public final class DurableWriter: Sendable {
    private struct Entry: Sendable {
        let durability: Durability
        /// Runs the caller's work (in a savepoint when asked) and records
        /// its outcome; returns the error it failed with, if any. It may run
        /// twice: a batch whose first pass had a failure is rolled back and
        /// run again with savepoints, and the second outcome is the one kept.
        let work: @Sendable (Database, _ inSavepoint: Bool) -> Error?
        /// Resumes the caller once the transaction has committed (or failed).
        let finish: @Sendable (_ commitError: Error?) -> Void
    }

    private struct State {
        var waiting: [Entry] = []
        var draining = false
        /// Deferred batches committed so far, and how many of them a full
        /// commit or a flush has synced.
        var deferredCommitted: UInt64 = 0
        var deferredSynced: UInt64 = 0
        var flushScheduled = false
        /// Set by a commit beside the writer that left the WAL past
        /// `restartFrames`: the drain it starts restarts the WAL first.
        var walLongBeside = false
        /// Set when the database closes (`stopFlushing`): flushes end.
        var flushingStopped = false
        var unsynced: Bool { deferredSynced < deferredCommitted }
    }

    private let pool: DatabasePool
    private let logger: Logger
    private let state = Locked(State())
    private let queue = DispatchQueue(label: "haven.durable-writer")
    /// Flushes fsync the WAL here, so commits never wait behind one.
    private let flushQueue = DispatchQueue(label: "haven.durable-writer.flush")
    /// Touched only on `queue`: the connection's current `synchronous` mode.
    private nonisolated(unsafe) var connectionIsFull = true
    /// Upper bound on one batch, so one commit's latency stays bounded.
    public static let maxBatch = 256
    /// Deferred commits reach the disk within this.
    public static let flushIntervalMilliseconds = 1_000
    /// `flushIntervalMilliseconds`; tests lengthen it, to look at commits
    /// before a flush syncs them.
    let flushDelayMilliseconds = Atomic<Int>(flushIntervalMilliseconds)
    private var flushInterval: DispatchTimeInterval { .milliseconds(flushDelayMilliseconds.load(ordering: .relaxed)) }

    /// Frames in the WAL after the writer connection's last commit.
    private let walFrames: WALFrameCount
    /// Past this many frames (16 MiB of 4 KiB pages) the writer makes sure
    /// the WAL starts again from its beginning (`restartWALIfLong`).
    public static let walRestartFrames = 4096
    /// Past this many the writer waits for a checkpoint running elsewhere
    /// rather than commit another batch: the WAL's bound on a slow disk.
    public static let walCeilingFrames = 2 * walRestartFrames
    /// The longest the writer waits for that checkpoint before it logs and
    /// commits anyway: long enough for a slow disk's checkpoint to finish,
    /// short enough that no caller's deadline passes behind it (a stuck
    /// disk or a frozen tool holding the lock must not stop every write).
    static let walCeilingPatienceMilliseconds: Int64 = 2_000
    /// `walCeilingPatienceMilliseconds`; tests shorten it.
    let ceilingPatienceMilliseconds = Atomic<Int64>(walCeilingPatienceMilliseconds)
    /// `walRestartFrames` and `walCeilingFrames`; tests make them small, so
    /// that they reach them without hundreds of MiB of disk traffic.
    let restartFrames = Atomic<Int>(walRestartFrames)
    let ceilingFrames = Atomic<Int>(walCeilingFrames)
    /// Touched only on `queue`: set when a wait at the ceiling ran out, so
    /// later batches do not each wait again; cleared once a checkpoint has
    /// caught up (the writer's got the lock, or the WAL is below the ceiling).
    private nonisolated(unsafe) var gaveUpAtCeiling = false
    /// Set by `stopWaiting` (the database is closing): a wait at the ceiling
    /// ends at once, so shutdown never queues behind it.
    private let closing = Atomic<Bool>(false)

    init(pool: DatabasePool, logger: Logger) {
        self.pool = pool
        self.logger = logger
        self.walFrames = WALFrameCount(pool: pool)
    }

    /// Runs `body` in a write transaction and returns once it is committed
    /// with the given durability.
    public func write<T: Sendable>(_ durability: Durability = .full, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let outcome = Locked<Result<T, Error>?>(nil)
            let entry = Entry(
                durability: durability,
                work: { db, inSavepoint in
                    let result = Result<T, Error> {
                        inSavepoint ? try Self.inSavepoint(db) { try body(db) } : try body(db)
                    }.mapError(StorageFault.classify)
                    outcome.withLock { $0 = result }
                    if case .failure(let error) = result { return error }
                    return nil
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.withLock { $0 }!)
                    }
                })
            let startDrainer = state.withLock { state -> Bool in
                state.waiting.append(entry)
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if startDrainer {
                queue.async { self.drain() }
            }
        }
    }

    /// Runs `body` in a savepoint of the batch's transaction, rolled back
    /// alone if it throws. The savepoint statements are prepared once per
    /// connection (GRDB's `inSavepoint` parses them on every call, which was
    /// a visible share of the writer's time per concern).
    private static func inSavepoint<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.cachedStatement(sql: "SAVEPOINT haven_write").execute()
        let value: T
        do {
            value = try body()
        } catch {
            // When SQLite has already rolled back the whole transaction (a
            // full disk, an I/O error) there is no savepoint left, and the
            // batch's commit reports that fault to every caller. A rollback
            // that fails inside a live transaction would let this caller's
            // partial writes commit with the batch: the batch fails instead.
            guard db.isInsideTransaction else { throw error }
            do {
                try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT haven_write").execute()
            } catch let rollbackError {
                throw SavepointRollbackFailed(underlying: rollbackError)
            }
            try? db.cachedStatement(sql: "RELEASE SAVEPOINT haven_write").execute()
            throw error
        }
        try db.cachedStatement(sql: "RELEASE SAVEPOINT haven_write").execute()
        return value
    }

    private func drain() {
        // A commit beside the writer (`commitWithRead`) left the WAL long
        // while no batch ran.
        if state.withLock({ state in defer { state.walLongBeside = false }; return state.walLongBeside }) {
            restartWALIfLong()
        }
        while true {
            let batch: [Entry] = state.withLock { state in
                let batch = Array(state.waiting.prefix(Self.maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            let full = batch.contains { if case .full = $0.durability { true } else { false } }
            var commitError: Error?
            // A full or failing disk can roll back the whole transaction:
            // then every caller in the batch is told about the disk, not
            // about the error SQLite gives the statements after it.
            var fault: StorageFault?
            var failedAfterFault: Set<Int> = []
            // Whether a transaction committed: a lone caller that failed
            // leaves nothing to commit, and then no fsync covered the
            // deferred commits before it.
            var committed = false
            // Whether the committed pass changed a row. A transaction that
            // changed no page commits without an fsync, so a full batch
            // that wrote nothing syncs no deferred commit before it. (A
            // schema change alone counts no row: such a batch is treated as
            // unsynced, and the next flush syncs what is left.)
            var changedRows = false
            do {
                try pool.writeWithoutTransaction { db in
                    // A full commit fsyncs the WAL, and with it every deferred
                    // commit before it. Its frames are written in a few large
                    // writes (WALWriteCoalescing); a deferred commit's are
                    // not, as nothing syncs before readers see them.
                    if full != connectionIsFull {
                        try db.execute(sql: full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
                        connectionIsFull = full
                    }
                    // First pass without savepoints: a savepoint per caller
                    // copies every page the caller touches, which was most of
                    // the cost of a small write. Callers rarely fail inside
                    // the transaction (requests are checked before it), so
                    // when one does, the whole pass is rolled back and the
                    // batch runs again with a savepoint per caller — unless
                    // the failing caller was alone, when there is nothing
                    // left to commit.
                    var allSucceeded = true
                    var changesBefore = db.totalChangesCount
                    try WALWriteCoalescing.inTransaction(db, coalesce: full, logger: logger) {
                        for entry in batch {
                            guard let error = entry.work(db, false) else { continue }
                            if let fault = error as? StorageFault {
                                // Logged here: if the re-run succeeds, nothing else would say it happened.
                                logger.warning("a write hit a storage fault", metadata: ["error": "\(fault)", "writes": "\(batch.count)"])
                            }
                            allSucceeded = false
                            return .rollback
                        }
                        return .commit
                    }
                    if allSucceeded {
                        committed = true
                        changedRows = db.totalChangesCount != changesBefore
                    }
                    if allSucceeded || batch.count == 1 { return }
                    changesBefore = db.totalChangesCount
                    try WALWriteCoalescing.inTransaction(db, coalesce: full, logger: logger) {
                        for (index, entry) in batch.enumerated() {
                            let error = entry.work(db, true)
                            if let failed = error as? SavepointRollbackFailed { throw failed.underlying }
                            if let error = error as? StorageFault {
                                fault = fault ?? error
                            } else if error != nil, fault != nil {
                                failedAfterFault.insert(index)
                            }
                        }
                        return .commit
                    }
                    committed = true
                    changedRows = db.totalChangesCount != changesBefore
                }
            } catch {
                logger.error("write transaction failed to commit", metadata: ["error": "\(error)", "writes": "\(batch.count)"])
                commitError = fault ?? StorageFault.classify(error)
            }
            noteCommit(full: full, committed: committed && commitError == nil && (changedRows || !full))
            for (index, entry) in batch.enumerated() {
                entry.finish(commitError ?? (failedAfterFault.contains(index) ? fault : nil))
            }
            restartWALIfLong()
        }
    }

    /// Counts a commit toward the deferred-commit sync: a full commit's
    /// fsync covers every deferred commit before it; a deferred one waits
    /// for the next flush, which this schedules.
    private func noteCommit(full: Bool, committed: Bool) {
        let scheduleFlush = state.withLock { state -> Bool in
            if committed {
                if full { state.deferredSynced = state.deferredCommitted } else { state.deferredCommitted += 1 }
            }
            guard state.unsynced, !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        if scheduleFlush {
            flushQueue.asyncAfter(deadline: .now() + self.flushInterval) { self.flush() }
        }
    }

    /// Commits `body` — what a read must record — in that read's own
    /// transaction, on the caller's connection, as a deferred write, when
    /// the writer is idle; returns false when a batch is running or
    /// waiting (the caller then hands its write to `write(.deferred)`, in
    /// turn). `db` must be inside the read's transaction, still read-only;
    /// this ends it in every case: committed with `body`'s writes, or, when
    /// it returns false or throws, with nothing written.
    ///
    /// Why the read's own transaction: an access and its audit entry commit
    /// together (DESIGN.md principle 4), and a read costs one transaction,
    /// not two. SQLite lets a read transaction start writing only while its
    /// snapshot is the latest: when another connection committed after the
    /// read began, the first write fails (SQLITE_BUSY_SNAPSHOT; SQLITE_BUSY
    /// if something outside the writer, such as another process, holds the
    /// write lock). Nothing was written then; the read's transaction is
    /// rolled back and `body` runs at once in a transaction of its own on
    /// the same connection, before the answer leaves, as every trace did
    /// before. `body` may read what it needs (the audit chain's head) and
    /// is never committed on a stale snapshot: a write in a transaction
    /// whose snapshot is not the latest is refused.
    ///
    /// Why the caller's connection: every commit makes every other
    /// connection drop its page cache (SQLite resets a connection's cache
    /// when the WAL changed since its last read). Committed by the writer,
    /// audit entries left every reader cold, so each read of a student's
    /// record re-read the same b-tree pages from the kernel. Committed on
    /// the connection that read, that connection's cache stays valid, and
    /// the read needs no hop to the writer's thread and back.
    ///
    /// While it runs, this holds the writer's turn (`draining`), so no batch
    /// commits beside it; writes that arrive meanwhile wait, and are started
    /// when it returns. The connection must run with `synchronous = NORMAL`
    /// (the commit is deferred: on disk at the next full commit or flush).
    ///
    /// `waitingForTheWriteLock`: when the read's snapshot cannot write,
    /// `body` runs in a transaction of its own here, which waits (up to the
    /// busy timeout) when another process holds SQLite's write lock. A
    /// caller on a thread that must not wait (an event loop) passes false:
    /// then, when the lock is not free at once, this returns false and the
    /// caller hands `body` to the writer.
    public func commitWithRead(_ db: Database, waitingForTheWriteLock: Bool = true, _ body: (Database) throws -> Void) throws -> Bool {
        // Whatever happens below, the read's transaction does not outlive
        // this. GRDB's rollback, not a plain ROLLBACK: it ignores an
        // interruption (a cancelled call), which would otherwise leave the
        // transaction open on a connection GRDB then refuses to hand back.
        defer { try? db.rollback() }
        // SQLite may have rolled the read's transaction back itself (a disk
        // or memory error the read did not pass on): the trace would then
        // run statement by statement, each committed alone.
        guard db.isInsideTransaction else {
            throw DatabaseError(resultCode: .SQLITE_ABORT, message: "the read's transaction was rolled back before its audit entries were written")
        }
        // The next commit starts the WAL again, and SQLite syncs the new
        // header to disk then, whatever `synchronous` says: a disk's wait,
        // which a thread that must not wait leaves to the writer.
        if !waitingForTheWriteLock, walFrames.copiedEverything {
            try db.executeCached("COMMIT")  // the read's transaction ends, having written nothing
            return false
        }
        let committed = try holdingTurn { () -> Bool in
            // Rolled back before the turn is handed back: a failed `body`
            // must not hold SQLite's write lock while the next batch begins.
            defer { try? db.rollback() }
            if waitingForTheWriteLock { return try Self.commitTrace(db, body) }
            // Every attempt without the busy handler: even the first, which
            // would start a transaction of its own (and wait) had the read
            // read nothing.
            do {
                return try db.withoutWaitingForLocks { try Self.commitTrace(db, body) }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                return false  // the lock is held elsewhere: for the writer
            }
        }
        // The writer was busy (or the lock was not waited for): the read's
        // transaction ends, having written nothing.
        if !committed, db.isInsideTransaction { try db.executeCached("COMMIT") }
        return committed
    }

    /// `body` and its commit in the read's transaction; when a commit came
    /// between the read's start and now (its snapshot can no longer write)
    /// or another process holds the write lock, what `body` did is rolled
    /// back and it runs again on the latest snapshot, in a transaction of
    /// its own — waiting for the lock as the connection's busy handler says
    /// (with none, throwing `SQLITE_BUSY` if it is not free).
    private static func commitTrace(_ db: Database, _ body: (Database) throws -> Void) throws -> Bool {
        do {
            try body(db)
            try db.executeCached("COMMIT")
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            try db.rollback()
            try db.executeCached("BEGIN IMMEDIATE")
            try body(db)
            try db.executeCached("COMMIT")
        }
        return true
    }

    /// Runs `commit` holding the writer's turn, then hands the turn back,
    /// starting the drainer for writes that arrived meanwhile (or for a WAL
    /// the commit left long). Returns whether `commit` committed: false,
    /// having run nothing, when a batch is running or waiting.
    private func holdingTurn(_ commit: () throws -> Bool) throws -> Bool {
        let claimed = state.withLock { state -> Bool? in
            guard !state.flushingStopped else { return nil }
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        // Closed: no commit could be synced any more.
        guard let claimed else { throw StorageError("the database is closing; nothing more is written") }
        guard claimed else { return false }
        var failure: Error?
        var committed = false
        do {
            committed = try commit()
        } catch {
            failure = StorageFault.classify(error)
        }
        noteCommit(full: false, committed: committed)
        let walLong = walFrames.value >= restartFrames.load(ordering: .relaxed)
        let startDrainer = state.withLock { state -> Bool in
            state.walLongBeside = walLong
            if state.waiting.isEmpty && !walLong {
                state.draining = false
                return false
            }
            return true
        }
        if startDrainer {
            queue.async { self.drain() }
        }
        if let failure { throw failure }
        return committed
    }

    /// A checkpoint's outcome (SQLite's WAL frames and how many it copied).
    /// When it copied every frame, the next commit starts the WAL again and
    /// syncs its header, so a commit that must not wait for the disk
    /// (`commitWithRead` on an event loop) leaves that to the writer.
    public func noteCheckpoint(frames: Int, copied: Int) {
        if frames > 0, copied == frames { walFrames.copiedEverything = true }
    }

    /// Whether the next commit starts the WAL again (for tests).
    var walCopiedEverything: Bool { walFrames.copiedEverything }

    /// Writes queued and not yet taken into a batch (for tests).
    var queuedWrites: Int { state.withLock { $0.waiting.count } }
    /// Whether no batch is running or waiting, so the next commit beside
    /// the writer finds its turn free (for tests: a batch's callers resume
    /// before the drain ends).
    var isIdle: Bool { state.withLock { !$0.draining } }
    /// Whether deferred commits wait for a sync (for tests).
    var hasUnsyncedCommits: Bool { state.withLock { $0.unsynced } }

    /// Counts the WAL frames after commits on `db` too (a connection that
    /// commits beside the writer), so the WAL's bound sees them.
    public func watchWAL(_ db: Database) {
        walFrames.watch(db)
    }

    /// Keeps the WAL from growing without bound under sustained writes.
    ///
    /// SQLite starts the WAL again from its beginning only when a write
    /// transaction begins with every frame already copied into the database.
    /// The background checkpoint (`Checkpointer`) never gets there while
    /// commits keep coming, so under steady load the WAL only grew — 360 MB
    /// in the five seconds of the durable benchmark — and every commit
    /// appended to a growing file: new blocks, pages zeroed by the kernel
    /// before each partial write, and an fsync that also had to journal the
    /// file's new size. Once the WAL is long, the writer itself, between
    /// batches (no transaction open, callers already answered), copies what
    /// the background checkpoint has not: with everything copied, its next
    /// transaction writes from the start of the file, over pages already in
    /// the page cache. A reader still using the old frames only delays this
    /// to a later batch.
    ///
    /// When the background checkpoint holds the checkpoint lock, the writer
    /// goes on and tries after the next batch — up to `walCeilingFrames`.
    /// Past that it waits for the lock: on a slow disk a background copy
    /// can outlast several batches (CI saw the WAL reach 37 MiB that way).
    /// Waiting holds back the next batch; its callers were answered before.
    /// A wait that runs out (`walCeilingPatienceMilliseconds`) is logged once, and the
    /// writer then goes on without waiting until one of its checkpoints gets
    /// the lock again or the WAL has started again, so a lock held for good
    /// costs one wait, not one per batch.
    private func restartWALIfLong() {
        let frames = walFrames.value
        let ceiling = ceilingFrames.load(ordering: .relaxed)
        // The WAL started again (the background checkpoint got there): the
        // next time it is long, the writer waits again.
        if frames < ceiling { endGiveUp(frames) }
        guard frames >= restartFrames.load(ordering: .relaxed) else { return }
        let mustWait = frames >= ceiling && !gaveUpAtCeiling
        let clock = ContinuousClock()
        let giveUp = clock.now + .milliseconds(ceilingPatienceMilliseconds.load(ordering: .relaxed))
        do {
            let gotTheLock = try pool.writeWithoutTransaction { db -> Bool in
                // Closed meanwhile (a caller answered before this drain ended
                // closed the database; the close checkpoints itself): the
                // connection is gone, and SQLite must not be handed nil.
                guard let connection = db.sqliteConnection else { return false }
                while true {
                    var logFrames: Int32 = 0
                    var copied: Int32 = 0
                    let code = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &copied)
                    if code == SQLITE_OK {
                        self.noteCheckpoint(frames: Int(logFrames), copied: Int(copied))
                        return true
                    }
                    guard code == SQLITE_BUSY else {
                        throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)))
                    }
                    // Busy: another checkpoint is running. Below the ceiling,
                    // the next batch tries again; at it, wait for that one.
                    guard mustWait, !self.closing.load(ordering: .relaxed), clock.now < giveUp else { return false }
                    usleep(2_000)
                }
            }
            if gotTheLock {
                endGiveUp(frames)
            } else if mustWait, !closing.load(ordering: .relaxed) {
                gaveUpAtCeiling = true
                logger.warning("the WAL is past its ceiling and another checkpoint has held the lock too long; committing without waiting until the writer's checkpoint gets it", metadata: ["frames": "\(frames)"])
            }
        } catch {
            logger.warning("could not checkpoint the WAL from the writer; the background checkpoint goes on", metadata: ["error": "\(error)"])
        }
    }

    /// On `queue`: a checkpoint has caught up since the writer last gave up
    /// waiting at the ceiling, so the next wait is kept again.
    private func endGiveUp(_ frames: Int) {
        guard gaveUpAtCeiling else { return }
        gaveUpAtCeiling = false
        logger.notice("the WAL is below its ceiling again", metadata: ["frames": "\(frames)"])
    }

    /// Ends a wait at the WAL's ceiling now and skips later ones: the
    /// database is closing, and neither the drain of calls nor the close
    /// must queue behind the wait.
    public func stopWaiting() {
        closing.store(true, ordering: .relaxed)
    }

    /// At close, once the last write has committed: syncs the deferred
    /// commits no flush has synced yet, now, and ends the flushes (a flush
    /// scheduled before would otherwise run after the close, and retry for
    /// as long as the process runs once the WAL file is gone).
    public func stopFlushing() {
        let unsynced = state.withLock { state -> Bool in
            state.flushingStopped = true
            return state.unsynced
        }
        if unsynced, let problem = Self.syncWAL(pool.path + "-wal") {
            logger.error("could not sync deferred commits at close", metadata: ["error": "\(problem)"])
        }
    }

    /// fsync of the WAL file; the error's description, if it failed.
    private static func syncWAL(_ wal: String) -> String? {
        let fd = open(wal, O_RDONLY | O_CLOEXEC)
        if fd >= 0, fsync(fd) == 0 {
            close(fd)
            return nil
        }
        let problem = String(cString: strerror(errno))
        if fd >= 0 { close(fd) }
        return problem
    }

    /// Syncs deferred commits that no full commit has synced since.
    private func flush() {
        // Commits counted here have finished writing their WAL frames.
        let target = state.withLock { state -> UInt64? in
            state.flushScheduled = false
            return state.unsynced && !state.flushingStopped ? state.deferredCommitted : nil
        }
        guard let target else { return }
        // The deferred commits are frames in the WAL file's page cache: an
        // fsync of that file puts them on disk, without a checkpoint (which a
        // long-running reader could hold back) and without a transaction. It
        // runs beside the writer: commits go on while the disk syncs.
        let wal = pool.path + "-wal"
        if let problem = Self.syncWAL(wal) {
            logger.error("could not sync deferred commits; retrying", metadata: ["wal": "\(wal)", "error": "\(problem)"])
            state.withLock { $0.flushScheduled = true }
            flushQueue.asyncAfter(deadline: .now() + self.flushInterval) { self.flush() }
        } else {
            let more = state.withLock { state -> Bool in
                state.deferredSynced = max(state.deferredSynced, target)
                guard state.unsynced, !state.flushScheduled else { return false }
                state.flushScheduled = true
                return true
            }
            if more { flushQueue.asyncAfter(deadline: .now() + self.flushInterval) { self.flush() } }
        }
    }
}

/// The number of frames in the WAL after each commit on the pool's writer
/// connection (and the connections that commit beside it), as SQLite's WAL
/// hook reports it. (The hook is free: the automatic checkpoint, which would
/// use it, is off — HavenDatabase.open.)
private final class WALFrameCount: Sendable {
    private let frames = Atomic<Int>(0)
    /// Set when a checkpoint has copied every frame, cleared by the next
    /// commit (which started the WAL again).
    private let copied = Atomic<Bool>(false)
    /// The hooks' context: a reference to this object, released never (one
    /// small object per open database, for the life of the process), so a
    /// hook outlives this object's owner if its connection does.
    private nonisolated(unsafe) var context: UnsafeMutableRawPointer? = nil

    init(pool: DatabasePool) {
        context = Unmanaged.passRetained(self).toOpaque()
        pool.writeWithoutTransaction { db in watch(db) }
    }

    /// Setting a hook cannot fail.
    func watch(_ db: Database) {
        _ = sqlite3_wal_hook(db.sqliteConnection, { context, _, _, frames in
            let count = Unmanaged<WALFrameCount>.fromOpaque(context!).takeUnretainedValue()
            count.frames.store(Int(frames), ordering: .relaxed)
            count.copied.store(false, ordering: .relaxed)
            return SQLITE_OK
        }, context)
    }

    var value: Int { frames.load(ordering: .relaxed) }

    var copiedEverything: Bool {
        get { copied.load(ordering: .relaxed) }
        set { copied.store(newValue, ordering: .relaxed) }
    }
}
