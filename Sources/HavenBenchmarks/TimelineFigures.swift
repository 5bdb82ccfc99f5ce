import Foundation
import GRDB
import HavenProto
import HavenRPCClient

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
            let statement = try db.cachedStatement(sql: """
                SELECT c.*, cur.status FROM concerns c JOIN concern_current cur ON cur.concern_id = c.id
                WHERE c.student_id = ? ORDER BY c.observed_at DESC
                """)
            for (i, student) in students.enumerated() {
                let start = ContinuousClock.now
                _ = try Row.fetchAll(statement, arguments: [student])
                if i >= 10 { direct.append((ContinuousClock.now - start).microseconds) }
            }
            return direct
        }
        try queue.close()
        let note = "\(students.count - 10) students, one at a time; \(rows / max(students.count, 1)) entries per timeline on average"
        return [
            Figure("student timeline read p99 (Timeline/Get)", value: Samples.percentile(served, 0.99), unit: "µs",
                   baseline: ("one indexed SQL query", Samples.percentile(direct, 0.99)), target: .ratioAtMost(3), note: note),
            Figure("student timeline read p50 (Timeline/Get)", value: Samples.median(served), unit: "µs",
                   baseline: ("one indexed SQL query", Samples.median(direct)), target: .report),
        ]
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
