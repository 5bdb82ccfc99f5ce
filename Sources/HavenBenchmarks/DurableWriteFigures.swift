import Foundation
import GRDB
import HavenProto
import HavenStorage

/// Concerns created through `Concerns/Create` by 64 concurrent writers, each
/// acknowledged only after its commit with `synchronous=FULL`, against plain
/// SQLite writing the same rows — the concern, its current state, its outbox
/// event and its audit entry — one FULL transaction per concern in one thread.
struct DurableWriteFigures {
    let run: BenchmarkRun

    func measure() async throws -> [Figure] {
        let student = try await DatabaseQueue(path: run.databasePath, configuration: {
            var c = Configuration(); c.readonly = true; return c
        }()).read { db in try String.fetchOne(db, sql: "SELECT id FROM students ORDER BY id LIMIT 1") ?? "" }
        let create = Haven_V1_CreateConcernRequest.with {
            $0.studentIds = [student]
            $0.category = "withdrawal_mood"
            $0.severity = "low"
            $0.narrative = "Quiet in class all week (synthetic benchmark concern)."
        }
        let request = Ttrpc_Request.with {
            $0.service = "haven.v1.Concerns"
            $0.method = "Create"
            $0.payload = (try? create.serializedData()) ?? Data()
        }
        let requestFile = run.scratch.file("create.request")
        try Data(try request.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: requestFile))
        // The baseline runs half before and half after Haven's figure: this
        // disk's fsync time drifts by several times within minutes, and a
        // baseline on one side only would carry that drift into the ratio.
        let half = max(1, run.scale.baselineTransactions / 2)
        let (before, hostBefore) = try await HostCPU.shares { try plainSQLite(transactions: half, file: "plain-baseline-before") }
        let load = LoadGenerator(executable: run.tools.benchClient)
        let (result, host) = try await HostCPU.shares {
            try await load.run(socket: run.daemon.socketPath, requestFile: requestFile,
                               load: .concurrent(connections: 64, inflight: 1, seconds: run.scale.durableWriteSeconds), warmup: 2)
        }
        let rest = max(1, run.scale.baselineTransactions - half)
        let (after, hostAfter) = try await HostCPU.shares { try plainSQLite(transactions: rest, file: "plain-baseline-after") }
        let baseline = Double(half + rest) / (before + after)
        return [
            Figure("durable concern creation, 64 concurrent writers", value: result.callsPerSecond, unit: "concerns/s",
                   baseline: ("plain SQLite, 1 FULL txn per concern", baseline), target: .ratioAtLeast(5),
                   note: "p50 \(Figure.format(result.p50)) µs, p99 \(Figure.format(result.p99)) µs per acknowledged concern; "
                       + "baseline \(Figure.format(Double(half) / before))/s before and \(Figure.format(Double(rest) / after))/s after"
                       + (host.map { "; during Haven's load (its warm-up included): \($0)" } ?? "")
                       + (hostBefore.map { "; during the baseline: \($0) before, \(hostAfter ?? "not counted") after" } ?? "")),
        ]
    }

    /// The same four rows per concern, in tables with havend's own schema,
    /// in a fresh database file next to havend's (same disk); returns the
    /// seconds they took.
    func plainSQLite(transactions: Int, file: String) throws -> Double {
        let schema = try DatabaseQueue(path: run.databasePath, configuration: {
            var c = Configuration(); c.readonly = true; return c
        }()).read { db in
            try String.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index')
                AND tbl_name IN ('concerns', 'concern_current', 'outbox', 'audit_log')
                """)
        }
        let path = run.daemonHome.file("data/\(file).sqlite")
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            for statement in schema { try db.execute(sql: statement) }
            try db.execute(sql: "CREATE TABLE students (id TEXT PRIMARY KEY); CREATE TABLE staff (id TEXT PRIMARY KEY)")
        }
        let seconds = try Samples.timeSync {
            for i in 0..<transactions {
                try queue.inTransaction { db in
                    let id = RecordID.make()
                    let now = StoredTime.ms(Date())
                    try db.execute(sql: """
                        INSERT INTO concerns (id, incident_id, student_id, school_id, reporter_id, category, severity, narrative, observed_at, created_at, origin_node)
                        VALUES (?, ?, 'student', 'school', 'staff', 'withdrawal_mood', 'low', 'Quiet in class all week (synthetic benchmark concern).', ?, ?, 'node')
                        """, arguments: [id, id, now, now])
                    try db.execute(sql: "INSERT INTO concern_current (concern_id, category, severity, status, updated_at) VALUES (?, 'withdrawal_mood', 'low', 'open', ?)",
                                   arguments: [id, now])
                    try db.execute(sql: """
                        INSERT INTO outbox (id, type, occurred_at, student_id, school_id, subject_id, origin_node, attributes)
                        VALUES (?, 'concern.created', ?, 'student', 'school', ?, 'node', '{"category":"withdrawal_mood","severity":"low"}')
                        """, arguments: [RecordID.make(), now, id])
                    try db.execute(sql: """
                        INSERT INTO audit_log (id, at, actor_id, actor_name, actor_roles, action, student_id, record_ids, outcome, method, node, prev_hash, hash)
                        VALUES (?, ?, 'staff', 'Benchmark', 'admin', 'concern.create', 'student', ?, 'ok', 'haven.v1.Concerns/Create', 'node', ?, ?)
                        """, arguments: [RecordID.make(), now, id, String(i), String(i + 1)])
                    return .commit
                }
            }
        }
        return seconds
    }
}
