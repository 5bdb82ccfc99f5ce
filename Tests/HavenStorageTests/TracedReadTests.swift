import Foundation
import GRDB
import GRDBSQLite
@testable import HavenStorage
import HavenLocking
import HavenTestSupport
import Logging
import Testing

/// `HavenDatabase.tracedRead`: a read, and its trace (a read's audit
/// entries) committed before the value is returned — in the read's own
/// transaction, on the connection that read, when the writer is idle, so
/// that connection keeps its page cache.
@Suite(.timeLimit(.minutes(2))) struct TracedReadTests {
    let logger = Logger(label: "test")

    func open(_ dir: TemporaryDirectory, logger: Logger? = nil) throws -> HavenDatabase {
        let set = MigrationSet(namespace: "core", migrations: [
            Migration("0001") { db in try db.execute(sql: "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)") },
        ])
        return try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [set], knownMigrations: Set(set.identifiers), logger: logger ?? self.logger)
    }

    static func count(_ db: HavenDatabase) async throws -> Int {
        try await db.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM things")! }
    }

    /// Another connection takes SQLite's write lock, as another process
    /// would, and holds it until `release` is signalled; returns once it
    /// holds it.
    static func holdWriteLock(_ other: DatabaseQueue, until release: DispatchSemaphore) {
        let held = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? other.writeWithoutTransaction { other in
                try other.execute(sql: "BEGIN IMMEDIATE")
                held.signal()
                release.wait()
                try other.execute(sql: "COMMIT")
            }
        }
        held.wait()
    }

    static func insert(_ name: String) -> ReadTrace {
        { db in try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: [name]) }
    }

    /// `PRAGMA data_version` changes for a connection only when another
    /// connection has committed: unchanged across reads whose traces were
    /// committed, the traces were committed by the connection that read.
    @Test func theTraceIsCommittedByTheConnectionThatRead() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        var versions: [Int] = []
        let tracedOn = Locked<[String]>([])
        for i in 0..<5 {
            let (version, synchronous, readOn) = try await db.tracedRead { db in
                let seen = (try Int.fetchOne(db, sql: "PRAGMA data_version")!, try Int.fetchOne(db, sql: "PRAGMA synchronous")!, db.description)
                return (seen, { db in
                    tracedOn.withLock { $0.append(db.description) }
                    try Self.insert("read \(i)")(db)
                })
            }
            #expect(synchronous == 1, "a traced read's connection commits with synchronous = NORMAL (deferred)")
            #expect(readOn == "haven.traced-reader")
            versions.append(version)
        }
        #expect(tracedOn.withLock { $0 } == Array(repeating: "haven.traced-reader", count: 5))
        #expect(Set(versions).count == 1, "no other connection committed between the reads: \(versions)")
        #expect(try await Self.count(db) == 5)
        try db.close()
    }

    /// The trace is written in the read's own transaction (DESIGN.md
    /// principle 4: an access and its audit entry commit together): when
    /// the trace starts, the read's transaction is open and has only read.
    @Test func theTraceIsWrittenInTheReadsOwnTransaction() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        let stateAtTrace = Locked<Int32?>(nil)
        let seen = try await db.tracedRead { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!, { db in
                stateAtTrace.withLock { $0 = sqlite3_txn_state(db.sqliteConnection, nil) }
                try Self.insert("traced")(db)
            })
        }
        #expect(seen == 0)
        #expect(stateAtTrace.withLock { $0 } == SQLITE_TXN_READ,
                "the trace began inside the read's transaction (SQLITE_TXN_WRITE: a transaction of its own)")
        #expect(try await Self.count(db) == 1)
        try db.close()
    }

    /// Another connection commits after the read began: the read's snapshot
    /// can no longer write (SQLITE_BUSY_SNAPSHOT), so the trace is written in
    /// a transaction of its own right after — and what it reads there (the
    /// audit chain's head, in havend) is the latest, never the stale snapshot.
    @Test func aCommitBetweenTheReadAndItsTraceMovesTheTraceToAFreshTransaction() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        let other = try DatabaseQueue(path: dir.file("h.sqlite"))
        let attempts = Locked<[Int]>([])
        let seen = try await db.tracedRead { db in
            let seen = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!  // the read's snapshot starts here
            try other.write { try $0.execute(sql: "INSERT INTO things (name) VALUES ('meanwhile')") }
            return (seen, { db in
                let now = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!
                attempts.withLock { $0.append(now) }
                try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: ["traced after \(now)"])
            })
        }
        #expect(seen == 0)
        #expect(attempts.withLock { $0 } == [0, 1], "first on the read's snapshot (refused), then on the latest")
        let names = try await db.pool.read { try String.fetchAll($0, sql: "SELECT name FROM things ORDER BY id") }
        #expect(names == ["meanwhile", "traced after 1"])
        // The connection is usable again, its next trace in its read's transaction.
        #expect(try await db.tracedRead { _ in (2, Self.insert("next")) } == 2)
        #expect(try await Self.count(db) == 3)
        try other.close()
        try db.close()
    }

    /// Another process holds SQLite's write lock when the trace starts: a
    /// read transaction cannot wait for it (SQLite refuses the upgrade at
    /// once, SQLITE_BUSY), so the trace runs in a transaction of its own,
    /// which waits for the lock, and the read returns once it is committed.
    @Test func aWriteLockHeldElsewhereMovesTheTraceToATransactionThatWaitsForIt() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        // A read on the caller's thread first, on the connection the read
        // below uses: its busy handler (a timeout) is back afterwards.
        _ = try await db.tracedRead { _ in (0, nil) }
        _ = try await db.tracedRead(onThisThreadWithin: .seconds(60)) { db in (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!, nil) }
        let other = try DatabaseQueue(path: dir.file("h.sqlite"))
        let statesAtTrace = Locked<[Int32]>([])
        let seen = try await db.tracedRead { db in
            let seen = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!
            let release = DispatchSemaphore(value: 0)
            Self.holdWriteLock(other, until: release)
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { release.signal() }
            return (seen, { db in
                statesAtTrace.withLock { $0.append(sqlite3_txn_state(db.sqliteConnection, nil)) }
                try Self.insert("traced")(db)
            })
        }
        #expect(seen == 0)
        #expect(statesAtTrace.withLock { $0 } == [SQLITE_TXN_READ, SQLITE_TXN_WRITE],
                "refused in the read's transaction, then written in one of its own that waited for the lock")
        #expect(try await Self.count(db) == 1)
        try other.close()
        try db.close()
    }

    /// A database whose background checkpoint is stopped (a WAL copied whole
    /// would send a loop read's trace to the writer) and with a traced
    /// connection idle (one read has run), and a stand-in for an event loop.
    func openForReadsOnALoop(_ dir: TemporaryDirectory) async throws -> (HavenDatabase, OneThreadExecutor) {
        let db = try open(dir)
        db.stopBackgroundCheckpoints()
        _ = try await db.tracedRead { _ in (0, nil) }
        return (db, OneThreadExecutor())
    }

    /// `onThisThreadWithin`: with a connection idle, the read and its trace
    /// run on the caller's thread (an event loop's, in havend), with no
    /// hand-off; with none idle (the first read opens one), the ordinary
    /// path.
    @Test func aShortReadRunsOnTheCallersThreadWhenAConnectionIsIdle() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        db.stopBackgroundCheckpoints()  // a WAL copied whole would send the trace to the writer
        let loop = OneThreadExecutor()
        let (first, second) = try await Task(executorPreference: loop) {
            let first = try await db.tracedRead(onThisThreadWithin: .seconds(60)) { _ in (pthread_self(), Self.insert("first")) }
            let second = try await db.tracedRead(onThisThreadWithin: .seconds(60)) { db in
                ((pthread_self(), db.description, try Int.fetchOne(db, sql: "PRAGMA data_version")!), Self.insert("second"))
            }
            return (first, second)
        }.value
        #expect(pthread_equal(first, loop.thread) == 0, "no connection was idle: the read ran on the connection's own thread")
        #expect(pthread_equal(second.0, loop.thread) != 0, "a connection was idle: the read ran on the caller's thread")
        #expect(second.1 == "haven.traced-reader")
        // Its trace was committed in its transaction, on its connection, as on the ordinary path.
        let version = try await Task(executorPreference: loop) {
            try await db.tracedRead(onThisThreadWithin: .seconds(60)) { db in (try Int.fetchOne(db, sql: "PRAGMA data_version")!, nil) }
        }.value
        #expect(version == second.2, "no other connection committed since the second read")
        #expect(try await Self.count(db) == 2)
        try db.close()
    }

    /// A read still running after its budget is interrupted, rolled back
    /// and run again on the connection's own thread; what the interrupted
    /// run returned is not used, and the trace is committed once.
    @Test func aReadPastItsBudgetRunsAgainOnItsConnectionsThread() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        let loop = OneThreadExecutor()
        _ = try await db.tracedRead { _ in (0, Self.insert("one")) }  // a connection is idle from now on
        let runs = Locked<[(pthread_t, Int?)]>([])
        let value = try await Task(executorPreference: loop) {
            try await db.tracedRead(onThisThreadWithin: .zero) { db in
                // Long enough for SQLite to look at the clock (tens of
                // thousands of instructions); a read that swallows its
                // interruption still has its value thrown away.
                let long = try? Int.fetchOne(db, sql: """
                    WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000) SELECT COUNT(*) FROM n
                    """)
                runs.withLock { $0.append((pthread_self(), long)) }
                return (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!, Self.insert("two"))
            }
        }.value
        let seen = runs.withLock { $0 }
        #expect(seen.count == 2)
        #expect(seen.first.map { pthread_equal($0.0, loop.thread) != 0 && $0.1 == nil } == true, "interrupted on the caller's thread")
        #expect(seen.last.map { pthread_equal($0.0, loop.thread) == 0 && $0.1 == 10000 } == true, "run again, to its end, on the connection's thread")
        #expect(value == 1)
        #expect(try await Self.count(db) == 2, "the trace was committed once")
        try db.close()
    }

    /// A commit that lands during a read on the caller's thread: the trace
    /// is written in a transaction of its own on the same connection at once
    /// (the lock is free), as on the ordinary path.
    @Test func aCommitDuringAReadOnThisThreadMovesTheTraceToAFreshTransactionThere() async throws {
        let dir = TemporaryDirectory()
        let (db, loop) = try await openForReadsOnALoop(dir)
        let other = try DatabaseQueue(path: dir.file("h.sqlite"))
        let traces = Locked<[(String, Int)]>([])
        let seen = try await Task(executorPreference: loop) {
            try await db.tracedRead(onThisThreadWithin: .seconds(60)) { db in
                let seen = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!
                try other.write { try $0.execute(sql: "INSERT INTO things (name) VALUES ('meanwhile')") }
                return (seen, { db in
                    traces.withLock { $0.append((db.description, try! Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!)) }
                    try Self.insert("traced")(db)
                })
            }
        }.value
        #expect(seen == 0)
        let written = traces.withLock { $0 }
        #expect(written.map(\.0) == ["haven.traced-reader", "haven.traced-reader"], "both attempts on the reading connection")
        #expect(written.map(\.1) == [0, 1], "first on the read's snapshot (refused), then on the latest")
        #expect(try await Self.count(db) == 2)
        try other.close()
        try db.close()
    }

    /// A read on the caller's thread never holds that thread waiting for a
    /// lock: when another process holds SQLite's write lock, the trace is
    /// handed to the writer (which waits on its own thread), the caller's
    /// thread serves other work meanwhile, and the read returns only once
    /// the trace is committed.
    @Test func aReadOnThisThreadHandsATraceThatMustWaitForTheLockToTheWriter() async throws {
        let dir = TemporaryDirectory()
        let (db, loop) = try await openForReadsOnALoop(dir)
        let other = try DatabaseQueue(path: dir.file("h.sqlite"))
        let release = DispatchSemaphore(value: 0)
        let tracedOn = Locked<[String]>([])
        let readOn = Locked<pthread_t?>(nil)
        let read = Task(executorPreference: loop) {
            try await db.tracedRead(onThisThreadWithin: .seconds(60)) { db in
                readOn.withLock { $0 = pthread_self() }
                let seen = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!
                Self.holdWriteLock(other, until: release)
                return (seen, { db in
                    tracedOn.withLock { $0.append(db.description) }
                    try Self.insert("traced")(db)
                })
            }
        }
        // The lock is let go only once the caller's thread has served other
        // work: had the read waited for it there, this would time out.
        let servedWhileHeld = await Self.finishes(Task(executorPreference: loop) {}, within: .seconds(5))
        release.signal()
        let seen = try await read.value
        #expect(servedWhileHeld, "the caller's thread was not held while the lock was")
        #expect(seen == 0)
        #expect(pthread_equal(try #require(readOn.withLock { $0 }), loop.thread) != 0)
        #expect(tracedOn.withLock { $0 } == ["haven.traced-reader", "haven.writer"],
                "refused in the read's transaction, then committed by the writer, not on the caller's thread")
        #expect(try await Self.count(db) == 1)
        try other.close()
        try db.close()
    }

    /// Whether `task` finishes within `timeout` (answered then, whether or
    /// not it ever finishes).
    static func finishes(_ task: Task<Void, Never>, within timeout: Duration) async -> Bool {
        let answered = Locked(false)
        return await withCheckedContinuation { continuation in
            let answer: @Sendable (Bool) -> Void = { finished in
                if answered.withLock({ done in defer { done = true }; return !done }) { continuation.resume(returning: finished) }
            }
            Task { await task.value; answer(true) }
            Task { try? await Task.sleep(for: timeout); answer(false) }
        }
    }

    /// Once a checkpoint has copied the whole WAL, the next commit starts it
    /// again and syncs its header to disk: a read on the caller's thread
    /// leaves that commit to the writer; the flag clears with the commit.
    @Test func aTraceThatWouldRestartTheWALGoesToTheWriter() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        _ = try await db.tracedRead { _ in (0, Self.insert("first")) }
        // The background checkpoint copies everything within a second or so.
        let giveUp = ContinuousClock.now + .seconds(30)
        while !db.writer.walCopiedEverything, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(50)) }
        #expect(db.writer.walCopiedEverything, "the background checkpoint said it copied every frame")
        // No further copy may set it again under the reads below (one in
        // flight finishes first).
        db.stopBackgroundCheckpoints()
        try await Task.sleep(for: .milliseconds(200))
        #expect(db.writer.walCopiedEverything)
        let tracedOn = Locked<[String]>([])
        for name in ["after the copy", "after the restart"] {
            // The writer resumes a batch's callers before its drain ends: the
            // read after it waits for that, or it would find the turn taken.
            while !db.writer.isIdle, ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(5)) }
            #expect(db.writer.isIdle)
            _ = try await db.tracedRead(onThisThreadWithin: .seconds(60)) { db in
                (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!, { db in
                    tracedOn.withLock { $0.append(db.description) }
                    try Self.insert(name)(db)
                })
            }
        }
        #expect(tracedOn.withLock { $0 } == ["haven.writer", "haven.traced-reader"],
                "the restarting commit by the writer, the next one beside it again")
        #expect(!db.writer.walCopiedEverything)
        #expect(try await Self.count(db) == 3)
        try db.close()
    }

    @Test func aReadWithNothingToRecordReturnsItsValue() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        #expect(try await db.tracedRead { db in (try Int.fetchOne(db, sql: "SELECT 42")!, nil) } == 42)
        try db.close()
    }

    /// If the trace cannot be written, the value is not returned.
    @Test func aTraceThatFailsWithholdsTheValueAndLeavesNothing() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        try await db.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('taken')") }
        await #expect(throws: (any Error).self) {
            _ = try await db.tracedRead { db in
                ("the record", { db in
                    try db.execute(sql: "INSERT INTO things (name) VALUES ('first half')")
                    try db.execute(sql: "INSERT INTO things (name) VALUES ('taken')")  // UNIQUE
                })
            }
        }
        #expect(try await Self.count(db) == 1, "the failed trace's first insert was rolled back with it")
        // The connection is usable again, and the writer too.
        #expect(try await db.tracedRead { _ in (1, Self.insert("after")) } == 1)
        try await db.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('written')") }
        #expect(try await Self.count(db) == 3)
        try db.close()
    }

    @Test func theReadHalfCannotWrite() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        await #expect(throws: ReadThatWrote.self) {
            _ = try await db.tracedRead { db -> (Int, ReadTrace?) in
                try db.execute(sql: "INSERT INTO things (name) VALUES ('sneaked in')")
                return (0, nil)
            }
        }
        #expect(try await Self.count(db) == 0)
        try db.close()
    }

    /// While a batch holds the writer, a read's trace cannot commit beside
    /// it: it joins the writer's next batch, and the read returns only after.
    @Test func aTraceWaitsForABusyWriterAndIsCommittedByIt() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let held = Task {
            try await db.writer.write { db in
                try db.execute(sql: "INSERT INTO things (name) VALUES ('held')")
                holding.signal()
                release.wait()
            }
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { holding.wait(); continuation.resume() }
        }
        let tracedOn = Locked<String?>(nil)
        let read = Task {
            try await db.tracedRead { db in
                (db.description, { db in
                    tracedOn.withLock { $0 = db.description }
                    try Self.insert("traced")(db)
                })
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await db.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM things WHERE name = 'traced'")! } == 0,
                "the trace did not commit while the writer was busy")
        release.signal()
        #expect(try await read.value == "haven.traced-reader")
        try await held.value
        #expect(tracedOn.withLock { $0 } == "haven.writer", "the trace was committed by the writer's connection, not beside it")
        #expect(try await Self.count(db) == 2)
        try db.close()
    }

    /// A write that arrives while a trace commits beside the writer waits
    /// for it, and is started when it is done (it must not be stranded).
    @Test func aWriteArrivingDuringACommitBesideIsStartedAfterIt() async throws {
        let dir = TemporaryDirectory()
        let haven = try open(dir)
        let write = Locked<Task<Void, Error>?>(nil)
        _ = try await haven.tracedRead { _ in
            (0, { db in
                write.withLock { $0 = Task { try await haven.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('arrived')") } } }
                // The write is queued, not run: the commit beside holds the writer's turn.
                let giveUp = Date().addingTimeInterval(30)
                while haven.writer.queuedWrites == 0, Date() < giveUp { Thread.sleep(forTimeInterval: 0.005) }
                #expect(haven.writer.queuedWrites == 1)
                try db.execute(sql: "INSERT INTO things (name) VALUES ('beside')")
            })
        }
        try await write.withLock { $0! }.value
        #expect(try await Self.count(haven) == 2)
        try haven.close()
    }

    /// Many reads and writes at once, more reads than there are traced
    /// connections: every trace and every write is committed.
    @Test func everyTraceAndWriteIsCommittedUnderConcurrency() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<400 {
                group.addTask {
                    if i % 2 == 0 {
                        try await db.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: ["w\(i)"]) }
                    } else {
                        _ = try await db.tracedRead { db in (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")!, Self.insert("r\(i)")) }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await Self.count(db) == 400)
        try db.close()
        // Closed cleanly: the traced connections did not hold back the final checkpoint.
        let reopened = try open(dir)
        #expect(!reopened.checkedIntegrityAtOpen)
        #expect(try await Self.count(reopened) == 400)
        try reopened.close()
    }

    /// Commits beside the writer count toward the WAL's bound: with no
    /// batch running, the writer still restarts a long WAL. The background
    /// checkpoint is stopped: while its copy holds the checkpoint lock, the
    /// writer's is refused and traces go on up to the ceiling (it did, in 1
    /// of 25 runs), which `theWALStaysBoundedWhileAnotherCheckpointHoldsTheLock`
    /// covers; here the bound is the restart threshold.
    @Test func theWALStaysBoundedUnderTracesAlone() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        db.stopBackgroundCheckpoints()
        db.writer.restartFrames.store(DurableWriterTests.restartFrames, ordering: .relaxed)
        db.writer.ceilingFrames.store(DurableWriterTests.ceilingFrames, ordering: .relaxed)
        let blob = String(repeating: "x", count: 30_000)
        var largestWAL = 0
        for i in 0..<200 {
            _ = try await db.tracedRead { _ in (0, Self.insert("\(i) \(blob)")) }
            largestWAL = max(largestWAL, DurableWriterTests.walSize(dir))
        }
        // The restart threshold, and a few traces of slack while the writer checkpoints.
        let bound = (DurableWriterTests.restartFrames + 8 * DurableWriterTests.pagesPerWrite) * DurableWriterTests.frameBytes
        #expect(largestWAL < bound, "the WAL reached \(largestWAL / 1024) KiB")
        #expect(try await Self.count(db) == 200)
        try db.close()
    }

    /// A deferred commit schedules a flush a second later; a database closed
    /// before it syncs its deferred commits itself (not observable here),
    /// and the flush does not go looking for a
    /// WAL file that may be gone by then (it used to retry, and log an
    /// error, every second for the life of the process).
    @Test func closingEndsTheFlushes() async throws {
        let dir = TemporaryDirectory()
        let log = RecordedLog()
        let db = try open(dir, logger: log.logger)
        _ = try await db.tracedRead { _ in (0, Self.insert("deferred")) }
        try db.close()
        // As when a test's directory is removed, or the file moved away.
        try? FileManager.default.removeItem(atPath: dir.file("h.sqlite-wal"))
        try await Task.sleep(for: .milliseconds(DurableWriter.flushIntervalMilliseconds + 500))
        #expect(log.count(containing: "could not sync") == 0)
        let reopened = try open(dir)
        #expect(try await Self.count(reopened) == 1)
        try reopened.close()
    }

    /// Runs `write` as a full write after a deferred commit that no flush
    /// syncs meanwhile; returns whether that commit is still unsynced after
    /// it, and checks that a full commit which changes a row then syncs it.
    func deferredCommitUnsynced(after write: @escaping @Sendable (Database) throws -> Void) async throws -> Bool {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        db.writer.flushDelayMilliseconds.store(600_000, ordering: .relaxed)
        _ = try await db.tracedRead { _ in (0, Self.insert("deferred")) }
        #expect(db.writer.hasUnsyncedCommits)
        _ = try? await db.writer.write(.full, write)
        let unsynced = db.writer.hasUnsyncedCommits
        try await db.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('full')") }
        #expect(!db.writer.hasUnsyncedCommits, "a full commit's fsync covers the deferred commits before it")
        try db.close()
        return unsynced
    }

    /// A lone full write that fails commits nothing, so no fsync covered the
    /// deferred commits before it: they still wait for their flush.
    @Test func aFailedFullWriteDoesNotCountAsSyncingDeferredCommits() async throws {
        let unsynced = try await deferredCommitUnsynced { db in
            try db.execute(sql: "INSERT INTO things (name) VALUES ('deferred')")  // UNIQUE: fails
        }
        #expect(unsynced, "nothing committed, so nothing was synced")
    }

    /// A full write that changes no row commits without an fsync (SQLite
    /// skips it when no page changed), so it syncs no deferred commit
    /// before it either.
    @Test func aFullWriteThatChangesNothingDoesNotCountAsSyncingDeferredCommits() async throws {
        let unsynced = try await deferredCommitUnsynced { db in
            _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things")
        }
        #expect(unsynced, "a commit that changed nothing did not fsync")
    }

    /// Closing waits for a read still running (a call the server stopped
    /// waiting for), and that read's trace is committed before the close.
    @Test func closingWaitsForARunningRead() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        let reading = DispatchSemaphore(value: 0)
        let read = Task {
            try await db.tracedRead { _ in
                reading.signal()
                Thread.sleep(forTimeInterval: 0.3)
                return (0, Self.insert("late"))
            }
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { reading.wait(); continuation.resume() }
        }
        try db.close()
        #expect(try await read.value == 0, "the read finished, with its trace, before the close")
        let reopened = try open(dir)
        #expect(!reopened.checkedIntegrityAtOpen)
        #expect(try await Self.count(reopened) == 1)
        try reopened.close()
    }
}

/// A task executor with one thread of its own, standing in for an event
/// loop: a task that prefers it runs there between its awaits.
final class OneThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var started: pthread_t?
    /// The executor's thread.
    var thread: pthread_t {
        condition.lock()
        defer { condition.unlock() }
        while started == nil { condition.wait() }
        return started!
    }

    init() {
        let thread = Thread { self.run() }  // keeps this executor alive with its thread
        thread.name = "one-thread-executor"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.broadcast()
        condition.unlock()
    }

    /// Runs for the rest of the test process (one small thread per test).
    private func run() {
        condition.lock()
        started = pthread_self()
        condition.broadcast()
        condition.unlock()
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
