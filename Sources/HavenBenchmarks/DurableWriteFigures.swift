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
        let samplesFile = run.scratch.file("create.samples")
        // Haven's load and the baseline take turns of equal length: this
        // host's steal and its disk's fsync time change within seconds, and
        // a baseline measured in a block before or after the load put a busy
        // moment on one side only (one full run's 32 % steal fell on Haven's
        // load alone). Which side goes first alternates, so that neither
        // always follows the other. After each of Haven's turns the figure
        // waits, for havend's background checkpoint to copy what is left
        // of the turn's WAL before the baseline writes to the same disk
        // (the copy the writer makes during a turn is counted in it).
        let baseline = try PlainSQLite(run: run)
        defer { baseline.close() }
        let load = LoadGenerator(executable: run.tools.benchClient)
        let turns = run.scale.durableTurns
        precondition(turns > 0, "the durable figure needs at least one turn")
        let turnSeconds = run.scale.durableWriteSeconds / Double(turns)
        // The 64 writers are 64 connections with a call each in flight,
        // driven from one client thread (epoll) rather than 64, so that on
        // two vCPUs the client's threads take less CPU from havend, whose
        // CPU per concern bounds the figure. Stop 30 measured little
        // difference: 0.87–1.26× the threaded client's concerns a second
        // in 15 turns against the same havend, about 1.07× on average.
        let writers = 64, warmup = 2
        let writerLoad = LoadGenerator.Load.concurrent(connections: writers, inflight: 1, seconds: turnSeconds, oneThread: true)
        var haven = (rateSeconds: 0.0, seconds: 0.0, latencies: [Double]()), plain = (transactions: 0, seconds: 0.0)
        var turnRatios: [Double] = []
        var havenHost: HostCPUTime?, baselineHost: HostCPUTime?
        // One unmeasured turn a side first, so that a figure of sustained
        // load leaves out a cold start: across stop 31's nine runs Haven's
        // first turn ran about 8 % below its later ones (the writer's pages
        // and statements cold), the baseline's about 4 %. (The figure did
        // not rise with it: 4.75–4.88× in three full runs, 4.83–5.44×
        // in the four before.)
        _ = try baseline.write(for: turnSeconds)
        _ = try await load.run(socket: run.daemon.socketPath, requests: .one(requestFile), load: writerLoad, warmup: warmup)
        try await Task.sleep(for: .seconds(run.scale.durableSettleSeconds))
        for turn in 0..<turns {
            func baselineTurn() async throws -> Double {
                let written = try await HostCPU.count(into: &baselineHost) { try baseline.write(for: turnSeconds) }
                plain.transactions += written.transactions; plain.seconds += written.seconds
                return Double(written.transactions) / written.seconds
            }
            func havenTurn() async throws -> Double {
                let (result, latencies) = try await HostCPU.count(into: &havenHost) {
                    try await load.latencies(socket: run.daemon.socketPath, requests: .one(requestFile), load: writerLoad, warmup: warmup,
                                           samplesFile: samplesFile)
                }
                guard !latencies.isEmpty else { throw BenchmarkError("durable creation: havend acknowledged no concern in a turn of \(Figure.format(turnSeconds)) s") }
                // The client's rate, which counts the warm-up calls as every figure it drives does.
                haven.rateSeconds += result.callsPerSecond * result.seconds; haven.seconds += result.seconds; haven.latencies += latencies
                if turn < turns - 1 || turn % 2 == 1 { try await Task.sleep(for: .seconds(run.scale.durableSettleSeconds)) }
                return result.callsPerSecond
            }
            let (havenRate, plainRate): (Double, Double)
            if turn % 2 == 0 {
                plainRate = try await baselineTurn()
                havenRate = try await havenTurn()
            } else {
                havenRate = try await havenTurn()
                plainRate = try await baselineTurn()
            }
            turnRatios.append(havenRate / plainRate)
            run.logger.debug("durable turn \(turn + 1): havend \(Figure.format(havenRate)) concerns/s, plain SQLite \(Figure.format(plainRate))/s, \(Figure.format(turnRatios[turn]))×")
        }
        let havenRate = haven.rateSeconds / haven.seconds
        return [
            Figure("durable concern creation, 64 concurrent writers", value: havenRate, unit: "concerns/s",
                   baseline: ("plain SQLite, 1 FULL txn per concern", Double(plain.transactions) / plain.seconds), target: .ratioAtLeast(5),
                   note: "\(turns) turns of \(Figure.format(turnSeconds)) s a side after an unmeasured one, the side going first alternating; "
                       + "Haven's \(writers) writers from one client thread; "
                       + "the turns' ratios \(Figure.format(turnRatios.min() ?? 0))–\(Figure.format(turnRatios.max() ?? 0))×; "
                       + "p50 \(Figure.format(Samples.median(haven.latencies))) µs, p99 \(Figure.format(Samples.percentile(haven.latencies, 0.99))) µs "
                       + "per acknowledged concern"
                       + (havenHost.map { "; during Haven's turns (warm-up included): \($0.shares)" } ?? "")
                       + (baselineHost.map { "; during the baseline's: \($0.shares)" } ?? "")),
        ]
    }

    /// The baseline: the same four rows per concern, in tables with havend's
    /// own schema, in a fresh database file next to havend's (same disk),
    /// one `synchronous=FULL` transaction per concern, in one thread.
    final class PlainSQLite {
        private let queue: DatabaseQueue
        /// Concerns written so far, in every turn.
        private var written = 0

        init(run: BenchmarkRun) throws {
            let schema = try DatabaseQueue(path: run.databasePath, configuration: {
                var c = Configuration(); c.readonly = true; return c
            }()).read { db in
                try String.fetchAll(db, sql: """
                    SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index')
                    AND tbl_name IN ('concerns', 'concern_current', 'outbox', 'audit_log')
                    """)
            }
            var configuration = Configuration()
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            queue = try DatabaseQueue(path: run.daemonHome.file("data/plain-baseline.sqlite"), configuration: configuration)
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA foreign_keys = OFF")
                for statement in schema { try db.execute(sql: statement) }
                try db.execute(sql: "CREATE TABLE students (id TEXT PRIMARY KEY); CREATE TABLE staff (id TEXT PRIMARY KEY)")
            }
        }

        func close() { try? queue.close() }

        /// Writes concerns, one transaction each, for `seconds`; returns how
        /// many and the seconds they took.
        func write(for seconds: Double) throws -> (transactions: Int, seconds: Double) {
            let start = ContinuousClock.now
            let end = start + .seconds(seconds)
            var transactions = 0
            repeat {
                try writeOne()
                transactions += 1
            } while ContinuousClock.now < end
            return (transactions, (ContinuousClock.now - start).seconds)
        }

        /// The audit hashes are stand-ins: the baseline does not hash.
        private func writeOne() throws {
            let i = written
            written += 1
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
}
