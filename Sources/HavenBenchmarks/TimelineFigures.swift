import Foundation
import GRDB
import HavenProto
import HavenRPCClient
import HavenStorage

/// A student's timeline through `Timeline/Get` (access check, every source,
/// the audit entry) against the same student's concerns read by one indexed
/// query in this process — the floor for "show me this child's record".
struct TimelineFigures {
    let run: BenchmarkRun

    func measure() async throws -> [Figure] {
        let (token, students) = try await prepare()
        let client = try await run.client(token: token)
        var served: [Double] = []
        var rows = 0
        for (i, student) in students.enumerated() {
            let start = ContinuousClock.now
            let timeline: Haven_V1_GetTimelineResponse = try await client.unary(
                "haven.v1.Timeline", "Get", Haven_V1_GetTimelineRequest.with { $0.studentID = student })
            if i >= 10 { served.append((ContinuousClock.now - start).microseconds) }  // after warm-up
            rows += timeline.entries.count
        }
        await client.close()

        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: run.databasePath, configuration: configuration)
        let direct = try await queue.read { db -> [Double] in
            var direct: [Double] = []
            let statement = try db.cachedStatement(sql: Self.concernsQuery)
            for (i, student) in students.enumerated() {
                let start = ContinuousClock.now
                _ = try Row.fetchAll(statement, arguments: [student])
                if i >= 10 { direct.append((ContinuousClock.now - start).microseconds) }
            }
            return direct
        }
        let audited = try auditedQueries(students)
        try queue.close()
        let note = "\(students.count - 10) students, one at a time; \(rows / max(students.count, 1)) entries per timeline on average"
        return [
            Figure("student timeline read p99 (Timeline/Get)", value: Samples.percentile(served, 0.99), unit: "µs",
                   baseline: ("one indexed SQL query", Samples.percentile(direct, 0.99)), target: .ratioAtMost(3), note: note),
            Figure("student timeline read p50 (Timeline/Get)", value: Samples.median(served), unit: "µs",
                   baseline: ("one indexed SQL query", Samples.median(direct)), target: .report),
            Figure("student timeline read p99, against an audited query", value: Samples.percentile(served, 0.99), unit: "µs",
                   baseline: ("the query + an audit row committed", Samples.percentile(audited, 0.99)), target: .report,
                   note: "the same query, each followed by a read's audit row (its schema, chain head and NORMAL commit) committed "
                       + "on the same connection: what any audited read of the record costs before Haven's own work (p50 "
                       + "\(Figure.format(Samples.median(served) / max(Samples.median(audited), 1)))×)"),
        ]
    }

    /// One student's concerns by one indexed query: both baselines' read.
    static let concernsQuery = """
        SELECT c.*, cur.status FROM concerns c JOIN concern_current cur ON cur.concern_id = c.id
        WHERE c.student_id = ? ORDER BY c.observed_at DESC
        """

    /// The bare query again, each followed by a read's audit entry committed
    /// to the same file on the same connection, as havend does for every
    /// read of a student's record (`TracedReaders`; its own commit leaves
    /// the connection's page cache valid). The entries go to a copy of
    /// `audit_log` and `audit_head` (havend's own chain must not be touched),
    /// dropped afterwards; the chain's SHA-256 (about a microsecond) is left out.
    /// Statements are cached and the commit never checkpoints, as in havend.
    private func auditedQueries(_ students: [String]) throws -> [Double] {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // As havend's writer: no checkpoint inside a commit (havend's run
        // beside it), and a deferred commit's sync.
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        }
        let writer = try DatabaseQueue(path: run.databasePath, configuration: configuration)
        defer { try? writer.close() }
        try writer.write { db in
            let schema = try String.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index')
                AND tbl_name IN ('audit_log', 'audit_head') ORDER BY type DESC
                """)
            for statement in schema {
                try db.execute(sql: statement.replacingOccurrences(of: "audit_", with: "bench_audit_"))
            }
        }
        defer {
            do {
                try writer.write { db in
                    try db.execute(sql: "DROP TABLE IF EXISTS bench_audit_log; DROP TABLE IF EXISTS bench_audit_head")
                }
            } catch {
                run.logger.warning("could not drop the audited baseline's tables", metadata: ["error": "\(error)"])
            }
        }
        var samples: [Double] = []
        for (i, student) in students.enumerated() {
            let start = ContinuousClock.now
            try writer.writeWithoutTransaction { db in
                try db.inTransaction(.deferred) {
                    _ = try Row.fetchAll(db.cachedStatement(sql: Self.concernsQuery), arguments: [student])
                    return .commit
                }
            }
            try writer.write { db in
                let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM bench_audit_head WHERE singleton = 1"))
                let seq: Int64 = (head?["seq"] ?? 0) + 1
                let previous: String = head?["hash"] ?? String(repeating: "0", count: 64)
                let hash = String(format: "%064x", seq)
                try db.cachedStatement(sql: """
                    INSERT INTO bench_audit_log (seq, id, at, actor_id, actor_name, actor_roles, action, student_id, record_ids,
                                                 fields, purpose, outcome, method, node, prev_hash, hash)
                    VALUES (?, ?, ?, 'benchmark-staff', 'Benchmark Administrator (synthetic)', 'administrator', 'timeline.read', ?,
                            '', '', '', 'allowed', 'haven.v1.Timeline/Get', 'node', ?, ?)
                    """).execute(arguments: [seq, RecordID.make(), StoredTime.ms(Date()), student, previous, hash])
                try db.cachedStatement(sql: """
                    INSERT INTO bench_audit_head (singleton, seq, hash) VALUES (1, ?, ?)
                    ON CONFLICT(singleton) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
                    """).execute(arguments: [seq, hash])
            }
            if i >= 10 { samples.append((ContinuousClock.now - start).microseconds) }
        }
        return samples
    }

    /// A district administrator (every school) with a token, and the students to read.
    private func prepare() async throws -> (token: String, students: [String]) {
        let (schools, all) = try await DatabaseQueue(path: run.databasePath, configuration: {
            var c = Configuration(); c.readonly = true; return c
        }()).read { db in
            (try String.fetchAll(db, sql: "SELECT id FROM schools"), try String.fetchAll(db, sql: "SELECT id FROM students ORDER BY id"))
        }
        let admin = try await run.client()
        let staff: Haven_V1_AddStaffResponse = try await admin.unary("haven.v1.Staff", "Add", Haven_V1_AddStaffRequest.with {
            $0.displayName = "Benchmark Administrator (synthetic)"
            $0.roles = ["administrator"]
            $0.schoolIds = schools
        })
        let token: Haven_V1_CreateTokenResponse = try await admin.unary("haven.v1.Tokens", "Create", Haven_V1_CreateTokenRequest.with {
            $0.staffID = staff.staff.id
            $0.name = "haven-bench"
        })
        await admin.close()
        var random = SplitMix(seed: 7)
        let count = min(run.scale.timelineReads + 10, all.count)
        let students = (0..<count).map { _ in all[Int(random.next() % UInt64(all.count))] }
        return (token.secret, students)
    }
}
