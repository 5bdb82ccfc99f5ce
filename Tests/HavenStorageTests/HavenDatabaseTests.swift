import Foundation
import GRDB
import HavenLocking
import HavenProcess
@testable import HavenStorage
import HavenTestSupport
import Logging
import Testing

@Suite struct HavenDatabaseTests {
    let logger = Logger(label: "test")

    func core(_ extra: [Migration] = []) -> MigrationSet {
        MigrationSet(namespace: "core", migrations: [
            Migration("0001-things") { db in try db.execute(sql: "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)") },
        ] + extra)
    }

    @Test func opensWithWALAndFullSynchronous() throws {
        let dir = TemporaryDirectory()
        let db = try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [core()], knownMigrations: Set(core().identifiers), logger: logger)
        let (mode, sync, fk) = try db.pool.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode")!, try Int.fetchOne(db, sql: "PRAGMA synchronous")!, try Int.fetchOne(db, sql: "PRAGMA foreign_keys")!)
        }
        // The writer connection too: GRDB sets it to NORMAL when it turns WAL on.
        let writerSync = try db.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous")! }
        #expect(mode == "wal")
        #expect(sync == 2)  // FULL
        #expect(writerSync == 2)
        #expect(fk == 1)
        #expect(try db.appliedMigrations() == ["core/0001-things"])
        try db.close()
    }

    @Test func pluginMigrationsAreNamespaced() throws {
        let dir = TemporaryDirectory()
        let db = try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [core()], knownMigrations: [], logger: logger)
        try db.migrate(MigrationSet(namespace: "screening", migrations: [
            Migration("0001-things") { db in try db.execute(sql: "CREATE TABLE screening_things (id INTEGER)") },
        ]))
        #expect(try db.appliedMigrations() == ["core/0001-things", "screening/0001-things"])
        try db.close()
    }

    @Test func aFailedMigrationLeavesTheFileAsItWas() throws {
        let dir = TemporaryDirectory()
        let db = try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [core()], knownMigrations: [], logger: logger)
        let error = #expect(throws: StorageError.self) {
            try db.migrate(MigrationSet(namespace: "bad", migrations: [
                Migration("0001") { db in
                    try db.execute(sql: "CREATE TABLE bad_half (id INTEGER)")
                    try db.execute(sql: "THIS IS NOT SQL")
                },
            ]))
        }
        #expect(error?.description.hasPrefix("schema migration bad/0001 failed, and the database was left as it was: ") == true)
        #expect(try db.pool.read { try $0.tableExists("bad_half") } == false)
        #expect(try db.appliedMigrations() == ["core/0001-things"])
        try db.close()
    }

    /// GRDB checks foreign keys after a migration's own SQL ran: a
    /// violation found then still names the migration.
    @Test func aMigrationFailingItsForeignKeyCheckIsNamed() throws {
        let dir = TemporaryDirectory()
        let db = try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [core()], knownMigrations: [], logger: logger)
        defer { try? db.close() }
        let error = #expect(throws: StorageError.self) {
            try db.migrate(core([
                Migration("0002-orphan") { db in
                    try db.execute(sql: """
                        CREATE TABLE parents (id INTEGER PRIMARY KEY);
                        CREATE TABLE children (parent_id INTEGER REFERENCES parents(id));
                        INSERT INTO children VALUES (5);
                        """)
                },
            ]))
        }
        #expect(error?.description.hasPrefix("schema migration core/0002-orphan failed, and the database was left as it was: ") == true)
        #expect(try db.pool.read { try $0.tableExists("children") } == false)
    }

    /// A migration that rewrites a large table leaves a WAL that size;
    /// SQLite would reuse the file without shrinking it.
    @Test func aMigrationLeavesNoWALBehind() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("h.sqlite")
        let db = try HavenDatabase.open(path: path, migrations: [core([
            Migration("0002-fill") { db in
                try db.execute(sql: """
                    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                    INSERT INTO things (name) SELECT printf('%08d', i) || zeroblob(1000) FROM n
                    """)
            },
        ])], knownMigrations: [], logger: logger)
        defer { try? db.close() }
        #expect(try db.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM things") } == 2000)
        let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int
        #expect(wal == 0)
    }

    @Test func refusesAFileFromANewerFormat() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("h.sqlite")
        try DatabaseQueue(path: path).write { try $0.execute(sql: "PRAGMA user_version = 99") }
        #expect {
            _ = try HavenDatabase.open(path: path, migrations: [core()], knownMigrations: [], logger: logger)
        } throws: { "\($0)".contains("written by a newer Haven (storage format 99") }
    }

    @Test func refusesAFileWithMigrationsThisBuildDoesNotKnow() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("h.sqlite")
        let later = core([Migration("0002-later") { db in try db.execute(sql: "CREATE TABLE later (id INTEGER)") }])
        try HavenDatabase.open(path: path, migrations: [later], knownMigrations: Set(later.identifiers), logger: logger).close()
        #expect {
            _ = try HavenDatabase.open(path: path, migrations: [core()], knownMigrations: Set(core().identifiers), logger: logger)
        } throws: { "\($0)".contains("core/0002-later") }
    }

    @Test func theIntegrityCheckIsSkippedOnlyAfterACleanShutdownLeftTheFileUntouched() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("h.sqlite")
        func open() throws -> HavenDatabase {
            try HavenDatabase.open(path: path, migrations: [core()], knownMigrations: Set(core().identifiers), logger: logger)
        }
        let created = try open()
        #expect(created.checkedIntegrityAtOpen, "a new file is checked")
        try created.pool.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('a')") }
        try created.close()
        #expect(FileManager.default.fileExists(atPath: path + ".clean"))

        let afterCleanClose = try open()
        #expect(!afterCleanClose.checkedIntegrityAtOpen, "a clean shutdown skips the check")
        #expect(!FileManager.default.fileExists(atPath: path + ".clean"), "the marker is used once")
        try afterCleanClose.pool.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('b')") }
        // No close: as after a crash, there is no marker.
        try afterCleanClose.pool.close()
        let afterCrash = try open()
        #expect(afterCrash.checkedIntegrityAtOpen, "no clean shutdown: checked")
        try afterCrash.close()

        // A file changed after the clean shutdown (restored, copied, edited) is checked.
        let other = try DatabaseQueue(path: path)
        try other.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('c')") }
        try other.close()
        let afterEdit = try open()
        #expect(afterEdit.checkedIntegrityAtOpen, "a file changed since the clean shutdown is checked")
        try afterEdit.close()
    }

    @Test func refusesADamagedFile() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("h.sqlite")
        let db = try HavenDatabase.open(path: path, migrations: [core()], knownMigrations: Set(core().identifiers), logger: logger)
        try db.pool.write { db in
            for i in 0..<2000 { try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: ["thing \(i) " + String(repeating: "x", count: 50)]) }
        }
        try db.close()
        // Overwrite the middle of the file (index and table pages) with noise.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 8192)
        handle.write(Data(repeating: 0x5A, count: 16384))
        try handle.close()
        #expect(throws: StorageError.self) {
            _ = try HavenDatabase.open(path: path, migrations: [core()], knownMigrations: Set(core().identifiers), logger: logger)
        }
    }
}

@Suite struct DurableWriterTests {
    let logger = Logger(label: "test")

    func open(_ dir: TemporaryDirectory, logger: Logger? = nil) throws -> HavenDatabase {
        let set = MigrationSet(namespace: "core", migrations: [
            Migration("0001") { db in try db.execute(sql: "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)") },
        ])
        let db = try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [set], knownMigrations: Set(set.identifiers), logger: logger ?? self.logger)
        db.writer.restartFrames.store(Self.restartFrames, ordering: .relaxed)
        db.writer.ceilingFrames.store(Self.ceilingFrames, ordering: .relaxed)
        return db
    }

    @Test func concurrentWritesAreAllCommitted() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<300 {
                group.addTask {
                    try await db.writer.write { db in
                        try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: ["n\(i)"])
                        return db.lastInsertedRowID
                    }
                }
            }
            var ids = Set<Int64>()
            for try await id in group { ids.insert(id) }
            #expect(ids.count == 300)
        }
        try db.close()
        // Reopened from disk, everything acknowledged is there.
        let reopened = try open(dir)
        #expect(try await reopened.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM things") } == 300)
        try reopened.close()
    }

    /// Under writes that never pause, the background checkpoint never
    /// catches up, and SQLite starts the WAL again only when it has: without
    /// the writer's own checkpoint the WAL grew by every byte written.
    @Test func theWALStaysBoundedUnderSustainedWrites() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        let largestWAL = try await Self.writeSustained(db, dir)
        try await Self.expectBoundedAndCommitted(db, largestWAL: largestWAL, writes: Self.sustainedWrites)
    }

    /// A checkpoint that outlasts many batches (a slow disk, or another
    /// process's checkpoint) holds the checkpoint lock; the writer stops at
    /// the ceiling and waits for it, and every write still commits after.
    /// Here another process holds the lock until the writer has sat at the
    /// ceiling for a second.
    @Test func theWALStaysBoundedWhileAnotherCheckpointHoldsTheLock() async throws {
        let (dir, _, db, holder) = try await openWithTheLockHeld(patienceMilliseconds: 600_000)
        defer { holder.release() }
        let largestWAL = try await Self.writeSustained(db, dir, Self.pastTheCeilingWrites, atTheCeiling: .seconds(1)) { holder.release() }
        #expect(largestWAL >= Self.ceilingFrames * Self.frameBytes, "the writes reached the ceiling while the lock was held")
        try await Self.expectBoundedAndCommitted(db, largestWAL: largestWAL, writes: Self.pastTheCeilingWrites)
    }

    /// A lock held for good (a frozen tool) costs one wait, not one per
    /// batch: after the wait runs out the writer goes on without waiting,
    /// says so once, and says when a checkpoint has caught up.
    @Test func aCheckpointLockHeldForGoodCostsOneWaitNotOnePerBatch() async throws {
        let (dir, log, db, holder) = try await openWithTheLockHeld(patienceMilliseconds: 500)
        defer { holder.release() }
        // Some 15 batches past the ceiling: without the give-up remembered,
        // each would wait half a second and say so.
        _ = try await Self.writeSustained(db, dir, Self.pastTheCeilingWrites)
        #expect(log.count(containing: "past its ceiling") == 1)
        holder.release()
        // Whichever checkpoint takes the freed lock first (the writer's, or
        // the background one, after which the WAL starts again), the writer
        // says the WAL is back under its ceiling at its next batch.
        let clock = ContinuousClock()
        let patience = clock.now + .seconds(60)
        var after = 0
        while log.count(containing: "below its ceiling again") == 0, clock.now < patience {
            after += 1
            try await db.writer.write { [after] db in try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: ["after \(after)"]) }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(log.count(containing: "below its ceiling again") == 1)
        #expect(log.count(containing: "past its ceiling") == 1)
        try db.close()
    }

    /// A daemon stopping while its writer waits at the ceiling ends the wait
    /// at once: the writes waiting behind it commit, and nothing gives up.
    @Test func stoppingEndsAWaitAtTheCeiling() async throws {
        let (dir, log, db, holder) = try await openWithTheLockHeld(patienceMilliseconds: 600_000)
        defer { holder.release() }
        _ = try await Self.writeSustained(db, dir, Self.pastTheCeilingWrites, atTheCeiling: .milliseconds(300)) { db.writer.stopWaiting() }
        #expect(log.count(containing: "past its ceiling") == 0)
        #expect(try await db.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM things") } == Self.pastTheCeilingWrites)
        try db.close()
    }

    /// The WAL stayed under `walBound`, every write committed; closes `db`.
    static func expectBoundedAndCommitted(_ db: HavenDatabase, largestWAL: Int, writes: Int) async throws {
        #expect(largestWAL < walBound, "the WAL reached \(largestWAL / 1_048_576) MiB")
        #expect(try await db.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM things") } == writes)
        try db.close()
    }

    /// A new database whose writer waits `patienceMilliseconds` at the
    /// ceiling, what it logs, and another process holding its checkpoint lock.
    func openWithTheLockHeld(patienceMilliseconds: Int64) async throws
        -> (TemporaryDirectory, RecordedLog, HavenDatabase, CheckpointLockHolder) {
        let dir = TemporaryDirectory()
        let log = RecordedLog()
        let db = try open(dir, logger: log.logger)
        db.writer.ceilingPatienceMilliseconds.store(patienceMilliseconds, ordering: .relaxed)
        return (dir, log, db, try await CheckpointLockHolder(dir))
    }

    /// `writeSustained`, and `delay` after the WAL first reaches the
    /// ceiling, `action`.
    static func writeSustained(
        _ db: HavenDatabase, _ dir: TemporaryDirectory, _ count: Int, atTheCeiling delay: Duration, _ action: @escaping @Sendable () -> Void
    ) async throws -> Int {
        let watcher = Task {
            while walSize(dir) < ceilingFrames * frameBytes { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: delay)
            action()
        }
        defer { watcher.cancel() }
        return try await writeSustained(db, dir, count)
    }

    /// The writer's WAL limits here, an eighth of havend's, so these tests
    /// reach them without hundreds of MiB of disk traffic (which slowed the
    /// fsyncs of every test running beside them).
    static let restartFrames = DurableWriter.walRestartFrames / 8
    static let ceilingFrames = DurableWriter.walCeilingFrames / 8
    /// About 16 pages a write (the row and its unique index hold the text),
    /// some 9,600 frames in all, written by 16 writers at once.
    static let sustainedWrites = 600
    /// Enough to reach the ceiling (about 64 writes) and go well past it.
    static let pastTheCeilingWrites = 300
    static let writers = 16
    static let pagesPerWrite = 16
    /// A frame is a page and its 24-byte header.
    static let frameBytes = 4_096 + 24
    /// The ceiling, plus two full batches past it (the one that crossed it
    /// and one for slack in the pages-per-write estimate). Without the
    /// writer's checkpoint the WAL holds every frame written.
    static let walBound = (ceilingFrames + 2 * writers * pagesPerWrite) * frameBytes

    /// Writes `count` rows with `writers` always in flight; returns
    /// the largest the WAL file was seen.
    static func writeSustained(_ db: HavenDatabase, _ dir: TemporaryDirectory, _ count: Int = sustainedWrites) async throws -> Int {
        let blob = String(repeating: "x", count: 30_000)
        var largestWAL = 0
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let i = next
                next += 1
                group.addTask {
                    try await db.writer.write { db in
                        try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: ["\(i) \(blob)"])
                    }
                }
            }
            for _ in 0..<writers { add() }
            while try await group.next() != nil {
                largestWAL = max(largestWAL, walSize(dir))
                if next < count { add() }
            }
        }
        return largestWAL
    }

    static func walSize(_ dir: TemporaryDirectory) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: dir.file("h.sqlite-wal")))?[.size] as? Int) ?? 0
    }

    @Test func aFailingWriteRollsBackAloneAndOthersInItsBatchCommit() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        try await db.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('taken')") }
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<50 {
                group.addTask {
                    do {
                        try await db.writer.write { db in
                            // Every tenth write inserts a row, then violates UNIQUE.
                            try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: ["w\(i)"])
                            if i % 10 == 0 { try db.execute(sql: "INSERT INTO things (name) VALUES ('taken')") }
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var outcomes: [Bool] = []
            for await ok in group { outcomes.append(ok) }
            return outcomes
        }
        #expect(results.filter { !$0 }.count == 5)
        let names = try await db.pool.read { try String.fetchSet($0, sql: "SELECT name FROM things") }
        #expect(names.count == 46)
        #expect(!names.contains("w0") && !names.contains("w10"))
        #expect(names.contains("w1"))
        try db.close()
    }

    /// A write alone in its batch that fails is not run again (there is
    /// nothing else to commit): it gets its error and leaves nothing behind.
    @Test func aLoneFailingWriteGetsItsErrorAndLeavesNothing() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        try await db.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('taken')") }
        let runs = Locked(0)
        await #expect(throws: DatabaseError.self) {
            try await db.writer.write { db in
                runs.withLock { $0 += 1 }
                try db.execute(sql: "INSERT INTO things (name) VALUES ('half')")
                try db.execute(sql: "INSERT INTO things (name) VALUES ('taken')")
            }
        }
        #expect(runs.withLock { $0 } == 1)
        let names = try await db.pool.read { try String.fetchSet($0, sql: "SELECT name FROM things") }
        #expect(names == ["taken"])
        try db.close()
    }

    /// A batch with a failure runs twice (first without savepoints, then with
    /// them): what each caller gets back is what the committed run wrote.
    @Test func aCallerInABatchThatRanAgainGetsTheCommittedRunsResult() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        try await db.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES ('taken')") }
        let returned = await withTaskGroup(of: (String, Int64?).self) { group in
            for i in 0..<60 {
                group.addTask {
                    let name = "r\(i)"
                    let id = try? await db.writer.write { db -> Int64 in
                        try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: [name])
                        let id = db.lastInsertedRowID
                        if i % 7 == 0 { try db.execute(sql: "INSERT INTO things (name) VALUES ('taken')") }
                        return id
                    }
                    return (name, id)
                }
            }
            var all: [(String, Int64?)] = []
            for await pair in group { all.append(pair) }
            return all
        }
        let stored = try await db.pool.read { db in
            try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT name, id FROM things").map { ($0["name"] as String, $0["id"] as Int64) })
        }
        for (name, id) in returned {
            #expect(stored[name] == id, "\(name): the caller was told \(String(describing: id)), the file holds \(String(describing: stored[name]))")
        }
        #expect(returned.filter { $0.1 == nil }.count == 9)
        try db.close()
    }
}

/// Another process holding SQLite's checkpoint lock on a database in `dir`:
/// byte 121 of the -shm file (the unix VFS's lock bytes start at 120, and the
/// checkpoint lock is the second). It waits for the lock (a checkpoint of
/// the new file may hold it a moment) and exits if this process dies.
final class CheckpointLockHolder: Sendable {
    let process: ChildProcess

    init(_ dir: TemporaryDirectory) async throws {
        let held = dir.file("held")
        process = try ChildProcess("/usr/bin/env", ["python3", "-c", """
            import fcntl, os, sys, time
            parent = os.getppid()
            fd = os.open(sys.argv[1], os.O_RDWR)
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, 121)
            open(sys.argv[2], "w").close()
            while os.getppid() == parent:
                time.sleep(0.2)
            """, dir.file("h.sqlite-shm"), held], stdout: .null, stderr: .inherit)
        let clock = ContinuousClock()
        let patience = clock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: held) {
            try #require(process.isRunning, "the lock holder ended before taking the lock")
            try #require(clock.now < patience, "the lock holder never took the lock")
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func release() { process.stop() }
}

/// Log messages kept for a test to count.
final class RecordedLog: Sendable {
    private let messages = Locked<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(messages: self.messages) }
    }

    func count(containing text: String) -> Int {
        messages.withLock { $0.filter { $0.contains(text) }.count }
    }

    struct Handler: LogHandler {
        let messages: Locked<[String]>
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            messages.withLock { $0.append(message.description) }
        }
    }
}
