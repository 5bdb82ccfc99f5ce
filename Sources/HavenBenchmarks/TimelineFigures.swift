import Foundation
import GRDB
import HavenProto
import HavenRPCClient
import HavenStorage

/// A student's timeline through `Timeline/Get` (access check, every source,
/// the audit entry) against the same rows read by one indexed query in this
/// process — the floor for "show me this child's record".
struct TimelineFigures {
    let run: BenchmarkRun

    func measure() async throws -> [Figure] {
        let (token, students) = try await prepare()
        // This machine's page cache keeps little of the file (seen: 282 MiB
        // of 904 cached, with 23 GiB free), so whoever read these students
        // first paid the disk for everyone after: Haven, which went first.
        // One unmeasured pass of the baseline's query brings their pages in
        // for all; each then starts with its own SQLite cache cold.
        _ = try BaselineReads(path: run.databasePath, sql: Self.sameRowsQuery).time(students, warmup: 0)
        // Each baseline on a connection of its own, so none starts with
        // pages another one read.
        let direct = try BaselineReads(path: run.databasePath, sql: Self.sameRowsQuery)
        let concernsOnly = try BaselineReads(path: run.databasePath, sql: Self.concernsQuery)
        // The C client that drives every unary figure sends the calls, so the
        // figure holds havend's work and the socket, not a Swift client's.
        let load = LoadGenerator(executable: run.tools.benchClient)
        let requestsFile = run.scratch.file("timeline.requests")
        let samplesFile = run.scratch.file("timeline.samples")
        let requests = students.map { student in
            Ttrpc_Request.with {
                $0.service = "haven.v1.Timeline"
                $0.method = "Get"
                $0.payload = (try? Haven_V1_GetTimelineRequest.with { $0.studentID = student }.serializedData()) ?? Data()
                $0.metadata = [.with { $0.key = "authorization"; $0.value = "Bearer \(token)" }]
            }
        }
        var served: [Double] = []
        // Haven's reads and the baselines' take turns, a few students at a
        // time: the host's busy moments (other tenants, a slow wake-up of
        // a vCPU) come and go within a second, and a tail measured in
        // two blocks put them on whichever side ran then. Each turn reads
        // the same students on every side, after unmeasured reads of a few
        // students measured before: Haven's audit commits make SQLite drop
        // a baseline connection's page cache at its next read, and the
        // turn's first queries would otherwise find even the index roots cold.
        var next = Self.warmup
        let (_, host) = try await HostCPU.shares {
            while next < students.count {
                // The turn's warm-up students, then its measured ones.
                let reads = (next == Self.warmup ? 0 : next - Self.warmupPerTurn)..<min(students.count, next + Self.studentsPerTurn)
                let warmup = next - reads.lowerBound
                try Self.framedRequests(Array(requests[reads])).write(to: URL(fileURLWithPath: requestsFile))
                served += try await load.latencies(socket: run.daemon.socketPath, requests: .inTurn(requestsFile),
                                                   load: .sequential(calls: reads.count - warmup), warmup: warmup, samplesFile: samplesFile).latencies
                try direct.time(Array(students[reads]), warmup: warmup)
                try concernsOnly.time(Array(students[reads]), warmup: warmup)
                next = reads.upperBound
            }
        }
        let rows = direct.rows, concerns = concernsOnly.rows
        let servedP99 = Samples.percentile(served, 0.99), servedP50 = Samples.median(served)
        let audited = try auditedQueries(students)
        let note = "\(students.count - Self.warmup) students, one at a time, by the C client, taking turns with the baseline "
            + "\(Self.studentsPerTurn) students at a time; the query read "
            + "\(Figure.format(Double(rows) / Double(max(direct.samples.count, 1)))) rows per student on average "
            + "(\(Figure.format(Double(concerns) / Double(max(concernsOnly.samples.count, 1)))) concerns)"
            + (host.map { "; during the turns: \($0)" } ?? "")
        return [
            Figure("student timeline read p99 (Timeline/Get)", value: servedP99, unit: "µs",
                   baseline: ("one indexed SQL query", Samples.percentile(direct.samples, 0.99)), target: .ratioAtMost(3), note: note),
            Figure("student timeline read p50 (Timeline/Get)", value: servedP50, unit: "µs",
                   baseline: ("one indexed SQL query", Samples.median(direct.samples)), target: .report),
            Figure("student timeline read p99, against an audited query", value: servedP99, unit: "µs",
                   baseline: ("the query + an audit row committed", Samples.percentile(audited, 0.99)), target: .report,
                   note: "the same query, each followed by a read's audit row (its schema, chain head and NORMAL commit) committed "
                       + "on the same connection, after Haven's reads: what any audited read of the record costs before Haven's own work (p50 "
                       + "\(Figure.format(servedP50 / max(Samples.median(audited), 1)))×)"),
            Figure("student timeline read p50, against the concerns alone", value: servedP50, unit: "µs",
                   baseline: ("the student's concerns by one query", Samples.median(concernsOnly.samples)), target: .report,
                   note: "the baseline before stop 20: the concerns and their current status only, not the timeline's other rows "
                       + "(p99 \(Figure.format(servedP99 / max(Samples.percentile(concernsOnly.samples, 0.99), 1)))×)"),
        ]
    }

    /// Students read by Haven, then by each baseline, in each turn.
    static let studentsPerTurn = 20
    /// Students of the turn before, read again unmeasured at the start of a turn.
    static let warmupPerTurn = 3

    /// One SQL query (one argument: the student) timed student by student
    /// on a read-only connection of its own, kept across turns.
    final class BaselineReads {
        private let queue: DatabaseQueue
        private let sql: String
        private(set) var samples: [Double] = []
        private(set) var rows = 0

        init(path: String, sql: String) throws {
            var configuration = Configuration()
            configuration.readonly = true
            queue = try DatabaseQueue(path: path, configuration: configuration)
            self.sql = sql
        }

        deinit { try? queue.close() }

        /// Reads each of `students`, timing all but the first `warmup`.
        @discardableResult
        func time(_ students: [String], warmup: Int) throws -> Self {
            let (samples, rows) = try queue.read { db in
                var samples: [Double] = []
                var rows = 0
                let statement = try db.cachedStatement(sql: sql)
                for (i, student) in students.enumerated() {
                    let start = ContinuousClock.now
                    let read = try Row.fetchAll(statement, arguments: [student]).count
                    if i >= warmup {
                        samples.append((ContinuousClock.now - start).microseconds)
                        rows += read
                    }
                }
                return (samples, rows)
            }
            self.samples += samples
            self.rows += rows
            return self
        }
    }

    /// Reads before the measured ones, in every series alike.
    static let warmup = 10

    /// Encoded ttrpc requests, each after its length (4 bytes, big-endian):
    /// the C client's `--requests` file.
    static func framedRequests(_ requests: [Ttrpc_Request]) throws -> Data {
        var data = Data()
        for request in requests {
            let bytes: [UInt8] = try request.serializedBytes()
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { data.append(contentsOf: $0) }
            data.append(contentsOf: bytes)
        }
        return data
    }

    /// The rows a timeline shows (nearly: not grant revocations, nor the
    /// names of granters and referral actors), read by one indexed query: the student,
    /// their concerns with current state and reporter, every concern's notes,
    /// amendments and status changes with their authors, grants and emergency
    /// access, screenings with their results, and referral actions — each
    /// part by an index on the student (`?1` is the student's id). This is
    /// the baseline ("the same rows read by one indexed SQL query")
    /// and the audited baseline's read.
    static let sameRowsQuery = """
        SELECT 'student' AS kind, st.id, st.created_at AS at, st.given_name AS a, st.family_name AS b, st.preferred_name AS c, st.school_id AS d
          FROM students st WHERE st.id = ?1
        UNION ALL
        SELECT 'concern', c.id, c.observed_at, cur.category, cur.severity, c.narrative, rep.display_name
          FROM concerns c JOIN concern_current cur ON cur.concern_id = c.id LEFT JOIN staff rep ON rep.id = c.reporter_id
          WHERE c.student_id = ?1
        UNION ALL
        SELECT e.kind, e.id, e.created_at, e.field, e.status, e.body, s.display_name
          FROM concerns c JOIN concern_entries e ON e.concern_id = c.id LEFT JOIN staff s ON s.id = e.author_id
          WHERE c.student_id = ?1
        UNION ALL
        SELECT 'grant', g.id, g.created_at, g.purpose, g.expires_at, g.law_enforcement_reason, s.display_name
          FROM grants g LEFT JOIN staff s ON s.id = g.grantee_id WHERE g.student_id = ?1
        UNION ALL
        SELECT 'emergency_access', x.id, x.created_at, x.reason, x.expires_at, NULL, s.display_name
          FROM emergency_access x LEFT JOIN staff s ON s.id = x.staff_id WHERE x.student_id = ?1
        UNION ALL
        SELECT 'screening', a.id, COALESCE(r.submitted_at, a.started_at), a.instrument_id, r.band, r.total, r.flags
          FROM screening_administrations a LEFT JOIN screening_results r ON r.administration_id = a.id WHERE a.student_id = ?1
        UNION ALL
        SELECT 'referral', x.id, x.at, x.kind, r.priority, r.rule, x.note
          FROM referrals r JOIN referrals_actions x ON x.referral_id = r.id WHERE r.student_id = ?1
        ORDER BY at
        """

    /// One student's concerns and their current status: the baseline of
    /// earlier stops, still reported beside the issue's.
    static let concernsQuery = """
        SELECT c.*, cur.status FROM concerns c JOIN concern_current cur ON cur.concern_id = c.id
        WHERE c.student_id = ? ORDER BY c.observed_at DESC
        """

    /// The same-rows query again, each followed by a read's audit entry committed
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
                    _ = try Row.fetchAll(db.cachedStatement(sql: Self.sameRowsQuery), arguments: [student])
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
            if i >= Self.warmup { samples.append((ContinuousClock.now - start).microseconds) }
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
        let count = min(run.scale.timelineReads + Self.warmup, all.count)
        guard count > Self.warmup else {
            throw BenchmarkError("the timeline figure needs more than \(Self.warmup) students; the database has \(all.count)")
        }
        let students = (0..<count).map { _ in all[Int(random.next() % UInt64(all.count))] }
        return (token.secret, students)
    }
}
