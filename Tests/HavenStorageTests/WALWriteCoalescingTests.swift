import CSQLiteSettings
import Foundation
import GRDB
import GRDBSQLite
@testable import HavenStorage
import HavenTestSupport
import Logging
import Testing

/// The writer's full commits write their WAL frames through the coalescing
/// VFS (wal_write_coalescing.c). What it must keep: every frame of an
/// acknowledged commit is in the WAL file, byte for byte, so that SQLite
/// recovers it from the files alone; and it must in fact gather.
@Suite struct WALWriteCoalescingTests {
    let logger = Logger(label: "test")

    func open(_ dir: TemporaryDirectory) throws -> HavenDatabase {
        let set = MigrationSet(namespace: "core", migrations: [
            Migration("0001") { db in
                try db.execute(sql: "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, body BLOB NOT NULL)")
                try db.execute(sql: "CREATE INDEX things_by_body ON things(body)")
            },
        ])
        let db = try HavenDatabase.open(path: dir.file("h.sqlite"), migrations: [set], knownMigrations: Set(set.identifiers), logger: logger)
        // The WAL keeps every frame written here: nothing copies it back
        // into the database file while the test looks at it.
        db.stopBackgroundCheckpoints()
        return db
    }

    /// Opens a copy of the database file and its WAL, without the WAL
    /// index: SQLite rebuilds the index from the WAL's frames, checking
    /// each frame's checksum, as after a power cut.
    func recoveredCopy(of dir: TemporaryDirectory) throws -> (DatabaseQueue, TemporaryDirectory) {
        let copy = TemporaryDirectory()
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: dir.file("h.sqlite") + suffix, toPath: copy.file("h.sqlite") + suffix)
        }
        #expect(!FileManager.default.fileExists(atPath: copy.file("h.sqlite-shm")))
        return (try DatabaseQueue(path: copy.file("h.sqlite")), copy)
    }

    func expectWhole(_ queue: DatabaseQueue, things: Int, bodyBytes: Int) throws {
        let (check, count, sized) = try queue.read { db in
            (try String.fetchOne(db, sql: "PRAGMA integrity_check"),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things"),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things WHERE length(body) = ?", arguments: [bodyBytes]))
        }
        #expect(check == "ok")
        #expect(count == things)
        #expect(sized == things)
    }

    @Test func aFullCommitIsWrittenInAFewWritesAndRecoversFromTheFilesAlone() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        // About 120 pages in one commit: two write calls a frame would be
        // about 240 writes.
        try await db.writer.write { db in
            for i in 0..<200 {
                try db.execute(sql: "INSERT INTO things (name, body) VALUES (?, randomblob(1000))", arguments: ["one-\(i)"])
            }
        }
        let writes = try await db.writer.write { db in haven_wal_coalescing_last_writes(db.sqliteConnection!) }
        // The migrations left no WAL behind: this commit's frames are the WAL.
        let walBytes = try #require(try FileManager.default.attributesOfItem(atPath: dir.file("h.sqlite-wal"))[.size] as? Int)
        let frames = (walBytes - 32) / (4096 + 24)
        #expect(frames > 100)
        // Buffers of 124 KiB, one more for the WAL's header (synced alone).
        #expect(writes > 0)
        #expect(writes <= walBytes / (124 * 1024) + 2, "\(frames) frames took \(writes) writes to the WAL")
        // Concurrent writers: commits of many callers each.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<400 {
                group.addTask {
                    try await db.writer.write { db in
                        try db.execute(sql: "INSERT INTO things (name, body) VALUES (?, randomblob(1000))", arguments: ["many-\(i)"])
                    }
                }
            }
            try await group.waitForAll()
        }
        let (copy, copyDir) = try recoveredCopy(of: dir)
        try expectWhole(copy, things: 600, bodyBytes: 1000)
        try copy.close()
        withExtendedLifetime(copyDir) {}
        try db.close()
    }

    /// A transaction larger than the writer's page cache writes pages to
    /// the WAL before its COMMIT (a cache spill), and the COMMIT then
    /// rewrites those frames it changed again and reads them back to
    /// recompute their checksums: every rewrite and read must see what was
    /// gathered. Its frames are also more than one buffer's worth.
    @Test func aCommitAfterACacheSpillIsWhole() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        try await db.writer.write { db in
            try db.execute(sql: "PRAGMA cache_size = 20")
            for i in 0..<400 {
                try db.execute(sql: "INSERT INTO things (name, body) VALUES (?, randomblob(1500))", arguments: ["spilled-\(i)"])
            }
            // Every page again, after many of them were spilled.
            try db.execute(sql: "UPDATE things SET body = randomblob(1200)")
            try db.execute(sql: "PRAGMA cache_size = -2000")
        }
        let writes = try await db.writer.write { db in
            let writes = haven_wal_coalescing_last_writes(db.sqliteConnection!)
            try db.execute(sql: "INSERT INTO things (name, body) VALUES ('after', randomblob(1200))")
            return writes
        }
        #expect(writes > 0, "the commit after the spill was gathered")
        let (copy, copyDir) = try recoveredCopy(of: dir)
        try expectWhole(copy, things: 401, bodyBytes: 1200)
        try copy.close()
        withExtendedLifetime(copyDir) {}
        // And the database in use reads the same.
        #expect(try await db.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM things WHERE length(body) = 1200") } == 401)
        try db.close()
    }

    /// A COMMIT that fails (here a deferred foreign key, checked at commit,
    /// before SQLite writes a frame: what a commit failing halfway through
    /// leaves gathered is dropped by the same `end`, untested for want of a
    /// disk that fails on cue) ends the gathering, and the writer's next
    /// commits are whole.
    @Test func aFailedCommitLeavesLaterCommitsWhole() async throws {
        let dir = TemporaryDirectory()
        let db = try open(dir)
        try await db.writer.write { db in
            try db.execute(sql: """
                CREATE TABLE owners (id INTEGER PRIMARY KEY);
                CREATE TABLE owned (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners(id) DEFERRABLE INITIALLY DEFERRED, body BLOB);
                """)
        }
        await #expect(throws: (any Error).self) {
            try await db.writer.write { db in
                try db.execute(sql: "INSERT INTO things (name, body) VALUES ('failed', randomblob(1000))")
                try db.execute(sql: "INSERT INTO owned (owner, body) VALUES (42, randomblob(1000))")
            }
        }
        for i in 0..<3 {
            try await db.writer.write { db in
                try db.execute(sql: "INSERT INTO things (name, body) VALUES (?, randomblob(1000))", arguments: ["after-\(i)"])
            }
        }
        let (copy, copyDir) = try recoveredCopy(of: dir)
        try expectWhole(copy, things: 3, bodyBytes: 1000)
        #expect(try await copy.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM owned") } == 0)
        try copy.close()
        withExtendedLifetime(copyDir) {}
        try db.close()
    }

    /// On a disk without powersafe overwrite SQLite pads each full commit
    /// to a sector boundary, and writes the rest of the frame that crosses
    /// it after the commit's sync, before publishing the frames: gathering
    /// must have stopped at that sync. (Haven's disks have it, as SQLite
    /// assumes by default; this turns it off on one connection.)
    @Test func aCommitPaddedToASectorBoundaryIsWhole() throws {
        _ = SQLiteProcessSettings.applied  // registers the VFS
        let dir = TemporaryDirectory()
        var db: OpaquePointer?
        // psow=0: the file's device has no powersafe overwrite (read once, at open).
        #expect(sqlite3_open_v2("file:\(dir.file("h.sqlite"))?psow=0", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nil) == SQLITE_OK)
        defer { sqlite3_close(db) }
        func run(_ sql: String) {
            var message: UnsafeMutablePointer<CChar>?
            let code = sqlite3_exec(db, sql, nil, nil, &message)
            #expect(code == SQLITE_OK, "\(sql): \(message.map { String(cString: $0) } ?? "")")
            sqlite3_free(message)
        }
        var powersafe: Int32 = -1
        #expect(sqlite3_file_control(db, "main", SQLITE_FCNTL_POWERSAFE_OVERWRITE, &powersafe) == SQLITE_OK)
        #expect(powersafe == 0)
        run("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0")
        run("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, body BLOB NOT NULL)")
        for i in 0..<20 {
            run("BEGIN IMMEDIATE; INSERT INTO things (name, body) VALUES ('padded-\(i)', randomblob(3000))")
            #expect(haven_wal_coalescing_begin(db) == 1)
            run("COMMIT")
            #expect(haven_wal_coalescing_end(db) == 0, "commit \(i) left writes gathered")
        }
        let (copy, copyDir) = try recoveredCopy(of: dir)
        try expectWhole(copy, things: 20, bodyBytes: 3000)
        try copy.close()
        withExtendedLifetime(copyDir) {}
    }
}
