import Foundation
import GRDB
import HavenLocking
@testable import HavenStorage
import HavenTestSupport
import Logging
import Testing

/// The background checkpoint starts when the WAL has grown by a step, not
/// only on its timer, so the writer's own checkpoint (which holds back every
/// write) finds little left to copy.
@Suite struct CheckpointerTests {
    let logger = Logger(label: "test")

    func open(_ dir: TemporaryDirectory) throws -> HavenDatabase {
        let set = MigrationSet(namespace: "core", migrations: [
            Migration("0001") { db in try db.execute(sql: "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)") },
        ])
        return try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [set], knownMigrations: Set(set.identifiers), logger: logger)
    }

    func insert(_ db: HavenDatabase, _ name: String) async throws {
        try await db.writer.write { db in try db.execute(sql: "INSERT INTO things (name) VALUES (?)", arguments: [name]) }
    }

    /// One report each time the count passes a multiple of the step, and
    /// after the WAL starts again, the next at the first multiple of the
    /// new count (not where the old WAL would have reached).
    @Test func theWALsGrowthIsReportedAtEachStep() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        db.stopBackgroundCheckpoints()  // nothing copies the WAL but this test
        let step = 10
        let reports = Locked(0)
        db.writer.startCheckpoints(everyFrames: step) { reports.withLock { $0 += 1 } }
        let first = db.writer.walFrameCount
        for i in 0..<40 {
            let before = db.writer.walFrameCount
            try await insert(db, "a\(i)")
            #expect(db.writer.walFrameCount - before < step, "a write of one row adds fewer frames than a step")
        }
        let grown = db.writer.walFrameCount
        #expect(grown / step - first / step >= 3)
        #expect(reports.withLock { $0 } == grown / step - first / step)

        // Everything copied: the next commit starts the WAL from its beginning.
        let (frames, copied) = try await db.pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        #expect(frames == copied)
        try await insert(db, "restarted")
        #expect(db.writer.walFrameCount < step, "the WAL started again")
        let before = reports.withLock { $0 }
        var i = 0
        while db.writer.walFrameCount < step {
            try await insert(db, "b\(i)")
            i += 1
        }
        #expect(reports.withLock { $0 } == before + 1, "reported at the first step of the new WAL")
        try db.close()
    }

    /// `checkpointSoon` copies the WAL without the timer (here an hour away);
    /// calls that find one queued add nothing; and a stop with one just
    /// asked for returns, leaving the database as it was.
    @Test func aCheckpointSoonCopiesTheWALWithoutTheTimer() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        db.stopBackgroundCheckpoints()
        for i in 0..<20 { try await insert(db, "n\(i)") }
        let checkpoints = Locked<[(frames: Int, copied: Int)]>([])
        let checkpointer = try Checkpointer(path: dir.file("h.sqlite"), logger: logger, interval: 3600) { frames, copied in
            checkpoints.withLock { $0.append((frames, copied)) }
        }
        for _ in 0..<5 { checkpointer.checkpointSoon() }
        let giveUp = ContinuousClock.now + .seconds(30)
        while checkpoints.withLock({ $0.isEmpty }), ContinuousClock.now < giveUp { try await Task.sleep(for: .milliseconds(20)) }
        let done = checkpoints.withLock { $0 }
        #expect(done.count >= 1 && done.count <= 2, "five calls in a row: one checkpoint, or two if the first had started")
        #expect(done.first.map { $0.frames > 0 && $0.copied == $0.frames } == true)
        checkpointer.checkpointSoon()
        checkpointer.stop()
        try await insert(db, "after")  // the database is unharmed
        try db.close()
    }
}
