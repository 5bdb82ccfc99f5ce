import Foundation
import GRDB
import HavenReportingProto
import HavenRPCClient

/// Each built-in report through `Reports/Run` (access, aggregate SQL,
/// small-cell suppression, rendering, audit) against its aggregate SQL run
/// straight on the database in this process.
struct ReportFigures {
    let run: BenchmarkRun

    /// The GROUP BY queries a report is made of, written out plainly: the
    /// baseline a hand-written SQL report would be.
    static let baselineQueries: [String: [String]] = {
        let month = { (column: String) in "strftime('%Y-%m', \(column) / 1000, 'unixepoch', 'localtime')" }
        let concerns = "FROM concerns c JOIN concern_current cur ON cur.concern_id = c.id JOIN students st ON st.id = c.student_id"
        let screenings = "FROM screening_results r JOIN screening_administrations a ON a.id = r.administration_id JOIN students st ON st.id = a.student_id"
        let referrals = "FROM referrals r JOIN referrals_current c ON c.referral_id = r.id JOIN students st ON st.id = r.student_id"
        return [
            "concerns": [
                "SELECT cur.category, \(month("c.observed_at")), COUNT(*) \(concerns) GROUP BY 1, 2",
                "SELECT cur.category, sc.name, COUNT(*) \(concerns) JOIN schools sc ON sc.id = st.school_id GROUP BY 1, 2",
                "SELECT cur.category, st.grade, COUNT(*) \(concerns) GROUP BY 1, 2",
                "SELECT cur.category, cur.severity, COUNT(*) \(concerns) GROUP BY 1, 2",
            ],
            "screening": [
                "SELECT a.instrument_id, \(month("r.submitted_at")), COUNT(*) \(screenings) GROUP BY 1, 2",
                "SELECT a.instrument_id, \(month("r.submitted_at")), SUM(r.flags LIKE '%\"positive_screen\"%') \(screenings) GROUP BY 1, 2",
                "SELECT a.instrument_id, r.band, st.grade, COUNT(*) \(screenings) GROUP BY 1, 2, 3",
            ],
            "referrals": [
                "SELECT r.priority, \(month("r.created_at")), COUNT(*) \(referrals) GROUP BY 1, 2",
                "SELECT r.priority, r.rule, COUNT(*) \(referrals) GROUP BY 1, 2",
                "SELECT r.priority, SUM(c.overdue = 1), SUM(c.escalation_level > 0) \(referrals) GROUP BY 1",
                "SELECT c.disposition, r.priority, COUNT(*) \(referrals) WHERE c.status = 'closed' GROUP BY 1, 2",
                "SELECT r.priority, (c.acknowledged_at - r.created_at) / 1000.0 \(referrals) WHERE c.acknowledged_at IS NOT NULL ORDER BY 1, 2",
            ],
            "caseload": ["""
                SELECT s.display_name,
                  (SELECT COUNT(DISTINCT r.id) FROM referrals r JOIN referrals_current c ON c.referral_id = r.id
                   LEFT JOIN referrals_recipients rr ON rr.referral_id = r.id WHERE c.status != 'closed' AND (c.owner_id = s.id OR rr.staff_id = s.id)),
                  (SELECT COUNT(*) FROM concerns cc JOIN concern_current cu ON cu.concern_id = cc.id
                   WHERE cu.status != 'closed' AND cc.student_id IN (SELECT student_id FROM caseload WHERE staff_id = s.id)),
                  (SELECT COUNT(*) FROM caseload WHERE staff_id = s.id)
                FROM staff s WHERE s.active = 1
                  AND EXISTS (SELECT 1 FROM staff_roles r WHERE r.staff_id = s.id AND r.role IN ('counselor', 'social_worker', 'psychologist', 'nurse', 'administrator'))
                """],
        ]
    }()

    func measure() async throws -> [Figure] {
        let client = try await run.client()
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: run.databasePath, configuration: configuration)
        defer { try? queue.close() }
        var figures: [Figure] = []
        for report in ["concerns", "screening", "referrals", "caseload"] {
            var served: [Double] = []
            var direct: [Double] = []
            var tables = 0
            for _ in 0..<max(run.scale.reportRepeats, 1) {
                served.append(try await Samples.time {
                    let result: Haven_Reports_V1_Report = try await client.unary(
                        "haven.reports.v1.Reports", "Run", Haven_Reports_V1_RunReportRequest.with { $0.report = report; $0.format = "json" },
                        timeout: .seconds(600))
                    tables = result.tables.count
                } * 1000)
                direct.append(try await Samples.time {
                    try await queue.read { db in
                        for sql in Self.baselineQueries[report] ?? [] { _ = try Row.fetchAll(db, sql: sql) }
                    }
                } * 1000)
            }
            figures.append(Figure("\(report) report (Reports/Run, JSON)", value: Samples.median(served), unit: "ms",
                                  baseline: ("its aggregate SQL", Samples.median(direct)), target: .ratioAtMost(2),
                                  note: "\(tables) tables; median of \(served.count)"))
        }
        await client.close()
        return figures
    }
}
