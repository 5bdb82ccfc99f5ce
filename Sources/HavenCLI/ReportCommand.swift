import ArgumentParser
import Foundation
import HavenJSON
import HavenReportingProto

/// `haven report concerns|screening|referrals|caseload`.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Aggregate reports; small cells are suppressed (shown as *).",
        discussion: "e.g. haven report concerns --from 2026-09-01 --to 2026-11-30 --format html -o concerns.html")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "concerns, screening, referrals or caseload.") var report: String
    @Option var from: String?
    @Option var to: String?
    @Option var school: String?
    @Option var grade: String?
    @Option(help: "week, month (default) or term.") var period: String = "month"
    @Option(help: "table (default), csv, json or html.") var format: String = "table"
    @Option(name: [.customShort("o"), .customLong("out")], help: "Write to this file instead of standard output.") var output: String?

    func run() async throws {
        // The request and the output are built outside the async closure: the
        // Swift 6.3 optimizer crashed splitting this coroutine when they were inside.
        let request = try makeRequest()
        try await withSession(global) { session in
            let r: Haven_Reports_V1_Report = try await session.unary("haven.reports.v1.Reports", "Run", request)
            try deliver(r)
        }
    }

    func makeRequest() throws -> Haven_Reports_V1_RunReportRequest {
        try Haven_Reports_V1_RunReportRequest.with {
            $0.report = report
            if let from { $0.from = try Dates.timestamp(from, option: "--from") }
            // --to is inclusive of that day.
            if let to { $0.to = .init(date: try Dates.timestamp(to, option: "--to").date.addingTimeInterval(to.count == 10 ? 86_400 : 0)) }
            $0.schoolID = school ?? ""
            $0.grade = grade ?? ""
            $0.period = period
            $0.format = format == "table" ? "" : format
        }
    }

    func deliver(_ r: Haven_Reports_V1_Report) throws {
        let text = format == "table" ? (global.output == .json ? JSONWriter.write(try JSONOutput.value(r)) : Self.render(r)) : r.rendered
        if let output {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
            print("Wrote \(r.title) to \(output).")
        } else {
            print(text)
        }
    }

    static func render(_ r: Haven_Reports_V1_Report) -> String {
        var lines = [r.title, "\(r.filters); k = \(r.k)", ""]
        for t in r.tables {
            lines.append(t.title)
            var header = [t.rowHeading] + t.columns
            if t.hasTotals_p { header.append("total") }
            var table = Table()
            table.headers = header
            for row in t.rows {
                var cells = [row.label] + row.cells.map(\.display)
                if t.hasTotals_p { cells.append(row.total.display) }
                table.add(row: cells)
            }
            if t.hasTotals_p { table.add(row: ["total"] + t.columnTotals.map(\.display) + [t.grandTotal.display]) }
            lines.append(t.rows.isEmpty ? "  (no data)" : table.render())
            if !t.note.isEmpty { lines.append(t.note) }
            lines.append("")
        }
        lines += r.notes
        return lines.joined(separator: "\n")
    }
}

