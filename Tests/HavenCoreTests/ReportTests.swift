import Foundation
import HavenProto
import HavenReporting
import HavenReportingProto
import HavenRPCClient
import HavenTestSupport
import HavenWire
import Testing

/// Reports over generated data: what is published never lets a reader work a
/// suppressed value out, and only the right people may run them.
@Suite(.serialized) struct ReportTests {
    static func school(k: Int = 10) async throws -> (CoreHarness, [String: RPCClient]) {
        let h = try await CoreHarness.start(config: "[plugins]\nenabled = [\"reporting\"]\n[plugins.reporting]\nk = \(k)\n", plugins: [ReportingPlugin()])
        try await h.importRoster(SyntheticRoster.make(schools: 2, studentsPerSchool: 40).files)
        var rng = SystemRandomNumberGenerator()
        let categories = ["withdrawal_mood", "bullying", "attendance", "substance_use", "family_home", "physical_health"]
        let severities = ["low", "low", "moderate", "high"]
        // Skewed on purpose: some categories common, some rare, so small cells appear.
        for i in 0..<260 {
            let school = i % 3 == 0 ? 2 : 1
            let student = "stu-\(school)-\(Int.random(in: 1...40, using: &rng))"
            let category = categories[min(categories.count - 1, Int(Double.random(in: 0..<1, using: &rng) * Double.random(in: 0..<1, using: &rng) * Double(categories.count + 1)))]
            _ = try await h.admin.createConcern([try await h.student(student).id], category: category, severity: severities[i % severities.count])
        }
        let s1 = try await h.schoolID(ofStudent: "stu-1-1")
        var clients: [String: RPCClient] = [:]
        clients["analyst"] = try await h.client(as: try await h.addStaff("Ana Analyst", [.analyst], schools: []))
        clients["principal"] = try await h.client(as: try await h.addStaff("Pat Principal", [.administrator], schools: [s1]))
        clients["teacher"] = try await h.client(as: try await h.addStaff("Tom Teacher", [.teacher], schools: [s1]))
        return (h, clients)
    }

    func run(_ client: RPCClient, _ report: String, format: String = "", school: String = "") async throws -> Haven_Reports_V1_Report {
        try await client.unary("haven.reports.v1.Reports", "Run", Haven_Reports_V1_RunReportRequest.with { $0.report = report; $0.format = format; $0.schoolID = school })
    }

    /// The published table as the attacker sees it.
    func published(_ t: Haven_Reports_V1_Table) -> (values: [[Int?]], rowTotals: [Int?], columnTotals: [Int?], grand: Int?) {
        func v(_ c: Haven_Reports_V1_Cell) -> Int? { c.suppressed ? nil : Int(c.value) }
        return (t.rows.map { $0.cells.map(v) }, t.rows.map { v($0.total) }, t.columnTotals.map(v), v(t.grandTotal))
    }

    @Test func publishedConcernCountsAreZeroOrAtLeastKAndSuppressedOnesCannotBeRecomputed() async throws {
        let (h, clients) = try await Self.school()
        let report = try await run(clients["analyst"]!, "concerns")
        #expect(report.k == 10)
        #expect(report.tables.count == 4)
        var suppressedSeen = 0
        var hiddenCategoryTotals: [Set<String>] = []
        for table in report.tables where table.kind == "count" {
            let p = published(table)
            for value in (p.values.flatMap { $0 } + p.rowTotals + p.columnTotals + [p.grand]).compactMap({ $0 }) {
                #expect(value == 0 || value >= 10, "\(table.id) shows \(value)")
            }
            suppressedSeen += p.values.flatMap { $0 }.filter { $0 == nil }.count
            #expect(BoundsAttack.recovered(p).isEmpty, "\(table.id) gives a suppressed value away")
            hiddenCategoryTotals.append(Set(table.rows.filter(\.total.suppressed).map(\.label)))
        }
        #expect(suppressedSeen > 0, "the generated data has small cells")
        // Tables that share category totals hide the same ones.
        #expect(Set(hiddenCategoryTotals).count == 1)
        await h.stop()
    }

    @Test func whoMayRunWhichReport() async throws {
        let (h, clients) = try await Self.school()
        #expect(await statusOf { _ = try await run(clients["teacher"]!, "concerns") }?.code == .permissionDenied)
        #expect(await statusOf { _ = try await run(clients["analyst"]!, "caseload") }?.code == .permissionDenied)
        let s2 = try await h.schoolID(ofStudent: "stu-2-1")
        #expect(await statusOf { _ = try await run(clients["principal"]!, "concerns", school: s2) }?.code == .permissionDenied)
        let own = try await run(clients["principal"]!, "concerns")
        #expect(own.filters.contains("1 schools") || own.filters.contains("school "))
        let caseload = try await run(clients["principal"]!, "caseload")
        #expect(caseload.tables.first?.id == "caseload")
        // Running a report is audited with its parameters.
        let log: Haven_V1_AuditLogResponse = try await h.admin.unary("haven.v1.Audit", "Log", Haven_V1_AuditLogRequest.with { $0.limit = 500 })
        #expect(log.entries.contains { $0.action == "report.run" && $0.fields == ["concerns"] && $0.purpose.contains("by month") })
        await h.stop()
    }

    @Test func exportsAreCSVAndJSONAndSelfContainedHTML() async throws {
        let (h, clients) = try await Self.school()
        let csv = try await run(clients["analyst"]!, "concerns", format: "csv")
        #expect(csv.mediaType == "text/csv")
        #expect(csv.rendered.contains("# Concerns by category and month"))
        let json = try await run(clients["analyst"]!, "concerns", format: "json")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.rendered.utf8)) as! [String: Any]
        #expect((parsed["tables"] as! [Any]).count == 4)
        let html = try await run(clients["analyst"]!, "concerns", format: "html")
        #expect(html.rendered.hasPrefix("<!DOCTYPE html>"))
        #expect(html.rendered.contains("<svg"))
        for external in ["http://", "https://", "<script", "<link", "@import", "url("] {
            #expect(!html.rendered.contains(external) || external == "http://" && !html.rendered.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://"),
                    "the HTML must not load anything: found \(external)")
        }
        await h.stop()
    }

    @Test func theThresholdIsConfigurableButNeverBelowFive() async throws {
        let (h, clients) = try await Self.school(k: 5)
        #expect(try await run(clients["analyst"]!, "concerns").k == 5)
        await h.stop()
        #expect(throws: Error.self) {
            _ = try CoreSettingsProbe.parse("[plugins]\nenabled = [\"reporting\"]\n[plugins.reporting]\nk = 3\n", plugins: [ReportingPlugin()])
        }
    }
}

/// Bounds propagation over a published table (independent of the daemon's code).
enum BoundsAttack {
    static func recovered(_ p: (values: [[Int?]], rowTotals: [Int?], columnTotals: [Int?], grand: Int?)) -> [String] {
        let rows = p.values.count, columns = p.values.first?.count ?? 0
        guard rows > 0, columns > 0, p.columnTotals.count == columns else { return [] }
        var names: [String] = []
        var known: [String: Int] = [:]
        func add(_ name: String, _ value: Int?) { names.append(name); if let value { known[name] = value } }
        for r in 0..<rows { for c in 0..<columns { add("c\(r),\(c)", p.values[r][c]) } }
        for r in 0..<rows { add("r\(r)", p.rowTotals[r]) }
        for c in 0..<columns { add("k\(c)", p.columnTotals[c]) }
        add("g", p.grand)
        var equations: [([String], String)] = []
        for r in 0..<rows { equations.append(((0..<columns).map { "c\(r),\($0)" }, "r\(r)")) }
        for c in 0..<columns { equations.append(((0..<rows).map { "c\($0),\(c)" }, "k\(c)")) }
        equations.append(((0..<rows).map { "r\($0)" }, "g"))
        equations.append(((0..<columns).map { "k\($0)" }, "g"))
        var lo: [String: Int] = [:], hi: [String: Int] = [:]
        for n in names where known[n] == nil { lo[n] = 1; hi[n] = 10_000_000 }
        func b(_ n: String) -> (Int, Int) { known[n].map { ($0, $0) } ?? (lo[n]!, hi[n]!) }
        for _ in 0..<300 {
            var changed = false
            for (parts, total) in equations {
                for x in parts + [total] where known[x] == nil {
                    let l: Int, u: Int
                    if x == total {
                        l = parts.map { b($0).0 }.reduce(0, +); u = parts.map { b($0).1 }.reduce(0, +)
                    } else {
                        let others = parts.filter { $0 != x }
                        l = b(total).0 - others.map { b($0).1 }.reduce(0, +); u = b(total).1 - others.map { b($0).0 }.reduce(0, +)
                    }
                    if l > lo[x]! { lo[x] = l; changed = true }
                    if u < hi[x]! { hi[x] = u; changed = true }
                }
            }
            if !changed { break }
        }
        return names.filter { known[$0] == nil && lo[$0]! >= hi[$0]! }
    }
}
