import Foundation
import HavenProto
import HavenRPCClient
import HavenTestSupport
import Testing

/// The reporting plugin end to end: the CLI writes a self-contained HTML
/// report, and a real headless browser draws its charts.
@Suite(.serialized) struct ReportFlowTests {
    @Test func theHTMLReportRendersItsChartsInAHeadlessBrowser() async throws {
        let daemon = try await DaemonProcess().start()
        for (name, text) in SyntheticRoster.make(schools: 2, studentsPerSchool: 30).files { _ = try daemon.directory.write("roster/\(name)", text) }
        #expect(try await daemon.cli(["roster", "import", daemon.directory.file("roster")]).status == 0)
        let client = try await daemon.client()
        var ids: [String] = []
        for school in 1...2 {
            for n in 1...30 {
                let r: Haven_V1_GetStudentResponse = try await client.unary("haven.v1.Students", "Get", Haven_V1_GetStudentRequest.with { $0.studentID = "stu-\(school)-\(n)" })
                ids.append(r.student.id)
            }
        }
        for (i, id) in ids.enumerated() {
            for category in ["withdrawal_mood", "attendance"] + (i % 3 == 0 ? ["bullying"] : []) {
                let _: Haven_V1_CreateConcernResponse = try await client.unary("haven.v1.Concerns", "Create", Haven_V1_CreateConcernRequest.with {
                    $0.studentIds = [id]; $0.category = category; $0.severity = "low"; $0.narrative = "synthetic"
                })
            }
        }
        await client.close()
        let html = daemon.directory.file("concerns.html")
        let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        let written = try await daemon.cli(["report", "concerns", "--from", "2026-01-01", "--to", today, "--format", "html", "-o", html])
        #expect(written.status == 0, "\(written.stderr)")
        let text = try String(contentsOfFile: html, encoding: .utf8)
        #expect(text.contains("Concerns by category and month"))
        let check = try await run("/usr/bin/env", ["python3", Binaries.packageRoot + "/Tests/Interop/check_chart.py", html, daemon.directory.file("concerns.png")], timeout: .seconds(180))
        #expect(check.status == 0, "the charts did not render: \(check.stdout) \(check.stderr)")
        let table = try await daemon.cli(["report", "concerns"])
        #expect(table.stdout.contains("withdrawal_mood"))
        try await daemon.stop()
    }
}
