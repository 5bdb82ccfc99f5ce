import Foundation
import CSQLiteSettings
import GRDB
import GRDBSQLite
import Logging
import HavenLocking

/// The school's SQLite file, opened the way Haven needs it: WAL (readers never
/// block the writer), `synchronous=FULL` (a commit that returned survives power
/// loss), foreign keys on, and a format version that refuses files written by
/// a newer Haven.
public final class HavenDatabase: Sendable {
    /// The storage format this build reads and writes (PRAGMA user_version).
    /// Raise it when a change makes older builds unable to read the file.
    public static let formatVersion = 1

    public let pool: DatabasePool
    public let path: String
    public let writer: DurableWriter
    /// Whether open ran `PRAGMA quick_check`: false only after a clean shutdown left the file untouched.
    public let checkedIntegrityAtOpen: Bool
    private let logger: Logger
    private let checkpointer = Locked<Checkpointer?>(nil)
    private let tracedReaders: TracedReaders

    private init(pool: DatabasePool, path: String, configuration: Configuration, checkedIntegrityAtOpen: Bool, logger: Logger) {
        self.pool = pool
        self.path = path
        self.checkedIntegrityAtOpen = checkedIntegrityAtOpen
        self.logger = logger
        self.writer = DurableWriter(pool: pool, logger: logger)
        self.tracedReaders = TracedReaders(path: path, configuration: configuration, pool: pool, writer: writer, logger: logger)
    }

    /// Stops the background checkpoint (for tests that must know the WAL is
    /// not copied under them).
    func stopBackgroundCheckpoints() {
        checkpointer.withLock { $0?.stop(); $0 = nil }
    }

    /// Runs `read` in a read-only transaction, then commits the trace it
    /// returns — a read's audit entries — with deferred durability, and
    /// returns the read's value only once that commit succeeded. Both run on
    /// one connection when the writer is idle (see `TracedReaders`).
    /// `onThisThreadWithin`: on the caller's thread when a connection is
    /// idle, for a thread that may be held for a short read but never long
    /// nor waiting for a lock: a read still running after `budget`, or one
    /// that meets a lock, runs again on the ordinary path (see
    /// `TracedReaders.read`).
    public func tracedRead<T: Sendable>(
        onThisThreadWithin budget: Duration? = nil, _ read: @escaping @Sendable (Database) throws -> (T, ReadTrace?)
    ) async throws -> T {
        try await tracedReaders.read(onThisThreadWithin: budget, read)
    }

    /// Opens (creating if needed) the database at `path`, checks it, and
    /// applies the migrations in `plan` that are not applied yet.
    ///
    /// - Parameter knownMigrations: every migration identifier this build
    ///   knows, including those of plugins that are disabled. A database that
    ///   has applied one outside this set was written by a newer Haven.
    public static func open(
        path: String, migrations plan: [MigrationSet], knownMigrations: Set<String>, logger: Logger
    ) throws -> HavenDatabase {
        if !SQLiteProcessSettings.applied {
            logger.debug("SQLite was already in use in this process (its memory statistics stay on), or the WAL-write-coalescing VFS could not be registered")
        }
        var configuration = Configuration()
        configuration.label = "haven"
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // Checkpoints run in the background (Checkpointer), never inside a commit.
            // (SQLite implements this with the WAL hook, which DurableWriter then
            // sets on the writer connection: running this pragma again later
            // would remove it, and with it the WAL's bound.)
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            // Every caller in a group commit runs in its own savepoint, and a
            // savepoint keeps the prior copy of each page it changes. With
            // temporary storage in memory those copies stay in memory; by
            // default SQLite spills them to a temp file past 64 KiB, which
            // cost the writer a third of its time per concern (a write
            // syscall per page). Sorts and temp tables also stay in memory.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        // Read before opening: opening the pool itself touches the file.
        let shutDownCleanly = CleanShutdownMarker.consume(databasePath: path)
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            if let fault = StorageFault.classify(error) as? StorageFault, fault.kind == .readOnly {
                throw StorageError("could not open the database \(path): it is read-only (a read-only mount, or file permissions); havend must be able to write it. Make it writable and start again: nothing in it was changed")
            }
            throw StorageError("could not open the database \(path): \(StorageFault.classify(error))")
        }
        let database = HavenDatabase(pool: pool, path: path, configuration: configuration, checkedIntegrityAtOpen: !shutDownCleanly, logger: logger)
        do {
            // GRDB puts a pool's writer connection in synchronous=NORMAL
            // when it turns WAL on, after prepareDatabase: without this, a
            // commit on it would not fsync, and one acknowledged could be
            // lost to a power cut (DurableWriter switches the mode only
            // when a batch needs the other one). Before anything writes.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            // After a clean shutdown the file is exactly as havend left it and
            // the check is skipped (on a large database it takes seconds);
            // after a crash, a power cut or a copy, it runs before anything else.
            if shutDownCleanly {
                logger.info("the last shutdown was clean: start-up integrity check skipped")
            } else {
                let started = ContinuousClock.now
                try database.checkIntegrity()
                logger.info("start-up integrity check passed (the last shutdown was not clean, or this is a new or copied file)",
                            metadata: ["took": "\(ContinuousClock.now - started)"])
            }
            try database.checkVersion(knownMigrations: knownMigrations)
            for set in plan { try database.migrate(set) }
            let checkpointer = try Checkpointer(path: path, logger: logger, checkpointed: database.writer.noteCheckpoint)
            database.checkpointer.withLock { $0 = checkpointer }
        } catch {
            try? pool.close()
            throw error
        }
        return database
    }

    /// `PRAGMA quick_check` at start-up: a damaged file is refused before use.
    func checkIntegrity() throws {
        let result: [String]
        do {
            result = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        } catch {
            throw StorageError("the database \(path) is damaged (\(error)). Restore it from a backup.")
        }
        guard result == ["ok"] else {
            throw StorageError("the database \(path) failed its integrity check: \(result.prefix(5).joined(separator: "; ")). Restore it from a backup.")
        }
    }

    private func checkVersion(knownMigrations: Set<String>) throws {
        let version = try pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
        if version > Self.formatVersion {
            throw StorageError("the database \(path) was written by a newer Haven (storage format \(version); this havend reads up to \(Self.formatVersion)). Upgrade havend, or restore a backup made by this version.")
        }
        let applied = try pool.read { db -> Set<String> in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try Set(String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
        }
        let unknown = applied.subtracting(knownMigrations).sorted()
        if !unknown.isEmpty {
            throw StorageError("the database \(path) was written by a newer Haven: it has schema changes this havend does not know (\(unknown.joined(separator: ", "))). Upgrade havend.")
        }
    }

    /// Applies the migrations of one owner that are not applied yet. Each
    /// runs in its own transaction; a failing one leaves the file as it was,
    /// and the error names it.
    public func migrate(_ set: MigrationSet) throws {
        guard !set.migrations.isEmpty else { return }
        var migrator = DatabaseMigrator()
        for migration in set.migrations {
            migrator.registerMigration("\(set.namespace)/\(migration.name)") { db in try migration.apply(db) }
        }
        let before = try pool.read { db in try migrator.appliedIdentifiers(db) }
        do {
            try migrator.migrate(pool)
            try pool.write { db in try db.execute(sql: "PRAGMA user_version = \(Self.formatVersion)") }
        } catch {
            // The first one not applied is the one that failed, whether in
            // its own SQL, GRDB's foreign-key check after it, or its commit.
            let applied = (try? pool.read { db in try migrator.appliedIdentifiers(db) }) ?? before
            let failed = set.identifiers.first { !applied.contains($0) }.map { "schema migration \($0)" }
            throw StorageError("\(failed ?? "schema migration of \(set.namespace)") failed, and the database was left as it was: \(error)")
        }
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }.subtracting(before)
        for id in applied.sorted() {
            logger.info("applied migration", metadata: ["migration": "\(id)"])
        }
        if !applied.isEmpty { truncateWAL() }
    }

    /// A migration that rewrites a table leaves a WAL as large as the
    /// table, and SQLite reuses a WAL file without shrinking it: copy it
    /// into the file now and cut it to nothing. Only a tidy-up: while the
    /// background checkpoint holds the checkpoint lock (a plugin's
    /// migrations run after it started) this tries again for a second, and
    /// then leaves the WAL to later checkpoints.
    private func truncateWAL() {
        for attempt in 1...100 {
            do {
                let (frames, copied) = try pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
                writer.noteCheckpoint(frames: frames, copied: copied)
                return
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && attempt < 100 {
                usleep(10_000)
            } catch {
                logger.notice("could not truncate the WAL after a schema change; it keeps its size until havend stops", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// The migration identifiers applied to this file.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
    }

    /// A cheap liveness probe for Health.
    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// Checkpoints the WAL, closes every connection, and marks the shutdown
    /// clean (the next open may then skip its integrity check).
    public func close() throws {
        checkpointer.withLock { $0?.stop(); $0 = nil }
        writer.stopWaiting()
        tracedReaders.close()
        writer.stopFlushing()
        let checkpointed = (try? pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }) != nil
        try pool.close()
        if checkpointed { CleanShutdownMarker.write(databasePath: path) }
    }
}

/// `<database>.clean`: written after a clean close with the file's size and
/// modification time, removed when the database is next opened. It only
/// counts while the file still matches it.
enum CleanShutdownMarker {
    static func markerPath(_ databasePath: String) -> String { databasePath + ".clean" }

    static func fingerprint(_ databasePath: String) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: databasePath),
              let size = attributes[.size] as? Int, let modified = attributes[.modificationDate] as? Date else { return nil }
        let walSize = (try? FileManager.default.attributesOfItem(atPath: databasePath + "-wal")[.size] as? Int) ?? 0
        return "\(size) \(modified.timeIntervalSince1970) \(walSize)"
    }

    static func write(databasePath: String) {
        guard let fingerprint = fingerprint(databasePath) else { return }
        try? fingerprint.write(toFile: markerPath(databasePath), atomically: true, encoding: .utf8)
    }

    /// True when a marker matched the file; the marker is gone either way.
    static func consume(databasePath: String) -> Bool {
        let marker = markerPath(databasePath)
        guard let recorded = try? String(contentsOfFile: marker, encoding: .utf8) else { return false }
        try? FileManager.default.removeItem(atPath: marker)
        return recorded == fingerprint(databasePath)
    }
}

/// Process-wide SQLite settings, made once, before the first connection
/// opens (SQLite refuses them after).
///
/// - Memory statistics off: with them on, every allocation SQLite makes
///   takes a process-wide mutex to count it — about 2 % of the daemon's time
///   under a stream of writes — and Haven never reads the counts.
/// - The WAL-write-coalescing VFS as the default: the default VFS itself for
///   every file and connection, except that `DurableWriter` has a full
///   commit's WAL frames written in a few large writes instead of two a
///   frame (CSQLiteSettings/wal_write_coalescing.c says why that is safe).
///   Registered after the statistics setting, which must come before SQLite
///   initializes.
enum SQLiteProcessSettings {
    static let applied: Bool = {
        // In this order: registering a VFS initializes SQLite.
        let statisticsOff = haven_sqlite_disable_memory_statistics() == SQLITE_OK
        let walCoalescing = haven_sqlite_register_wal_coalescing() == SQLITE_OK
        return statisticsOff && walCoalescing
    }()
}
