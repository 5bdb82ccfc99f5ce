import Foundation
import HavenJSON

/// Renders a report as CSV, JSON or a self-contained HTML page with SVG charts.
/// Suppressed values are already blank in the data; renderers only show "*".
enum ReportRenderer {
    static let suppressionNote = "* suppressed: fewer than k, or hidden so that another suppressed figure cannot be worked out from the totals."

    // MARK: CSV

    static func csv(_ report: ReportData) -> String {
        var lines: [String] = []
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        lines.append("# \(report.title)")
        lines.append("# \(report.filters); k = \(report.k); \(suppressionNote)")
        for table in report.tables {
            lines.append("")
            lines.append("# \(table.title)")
            var header = [table.rowHeading] + table.columns
            if table.rowTotals != nil { header.append("total") }
            lines.append(header.map(field).joined(separator: ","))
            for (r, label) in table.rows.enumerated() {
                var row = [label] + table.values[r].indices.map { table.display(table.values[r][$0], suppressed: table.suppressed[r][$0]) }
                if let totals = table.rowTotals { row.append(table.display(totals[r], suppressed: table.rowTotalSuppressed![r])) }
                lines.append(row.map(field).joined(separator: ","))
            }
            if let totals = table.columnTotals {
                var row = ["total"] + totals.indices.map { table.display(totals[$0], suppressed: table.columnTotalSuppressed![$0]) }
                if let grand = table.grandTotal { row.append(table.display(grand, suppressed: table.grandTotalSuppressed)) }
                lines.append(row.map(field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: JSON

    static func json(_ report: ReportData) -> String {
        func cell(_ t: ReportTable, _ v: Double, _ hidden: Bool) -> JSONValue {
            hidden ? .object([("suppressed", .bool(true))]) : .object([("value", .number(v)), ("display", .string(t.display(v, suppressed: false)))])
        }
        let tables: [JSONValue] = report.tables.map { t in
            var members: [(key: String, value: JSONValue)] = [
                ("id", .string(t.id)), ("title", .string(t.title)), ("kind", .string(t.kind.rawValue)), ("rowHeading", .string(t.rowHeading)),
                ("columns", .array(t.columns.map(JSONValue.string))),
                ("rows", .array(t.rows.enumerated().map { r, label in
                    var row: [(key: String, value: JSONValue)] = [("label", .string(label)), ("cells", .array(t.values[r].indices.map { cell(t, t.values[r][$0], t.suppressed[r][$0]) }))]
                    if let totals = t.rowTotals { row.append(("total", cell(t, totals[r], t.rowTotalSuppressed![r]))) }
                    return .object(row)
                })),
            ]
            if let totals = t.columnTotals { members.append(("columnTotals", .array(totals.indices.map { cell(t, totals[$0], t.columnTotalSuppressed![$0]) }))) }
            if let grand = t.grandTotal { members.append(("grandTotal", cell(t, grand, t.grandTotalSuppressed))) }
            if !t.note.isEmpty { members.append(("note", .string(t.note))) }
            return .object(members)
        }
        return JSONWriter.write(.object([
            ("report", .string(report.id)), ("title", .string(report.title)), ("filters", .string(report.filters)),
            ("k", .number(report.k)), ("generatedAt", .string(ISO8601DateFormatter().string(from: report.generatedAt))),
            ("notes", .array(report.notes.map(JSONValue.string))), ("tables", .array(tables)),
        ]))
    }

    // MARK: HTML

    static let palette = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b", "#975a16", "#4a5568"]

    static func html(_ report: ReportData) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var body = ""
        for table in report.tables {
            body += "<section class=\"table\" id=\"\(esc(table.id))\">\n<h2>\(esc(table.title))</h2>\n"
            if table.kind == .count, !table.rows.isEmpty, !table.columns.isEmpty { body += chart(table, esc: esc) }
            body += "<table>\n<thead><tr><th>\(esc(table.rowHeading))</th>"
            body += table.columns.map { "<th>\(esc($0))</th>" }.joined()
            if table.rowTotals != nil { body += "<th>total</th>" }
            body += "</tr></thead>\n<tbody>\n"
            for (r, label) in table.rows.enumerated() {
                body += "<tr><th>\(esc(label))</th>"
                for c in table.values[r].indices {
                    let hidden = table.suppressed[r][c]
                    body += "<td\(hidden ? " class=\"suppressed\"" : "")>\(esc(table.display(table.values[r][c], suppressed: hidden)))</td>"
                }
                if let totals = table.rowTotals { body += "<td class=\"total\">\(esc(table.display(totals[r], suppressed: table.rowTotalSuppressed![r])))</td>" }
                body += "</tr>\n"
            }
            if let totals = table.columnTotals {
                body += "<tr class=\"total\"><th>total</th>" + totals.indices.map { "<td>\(esc(table.display(totals[$0], suppressed: table.columnTotalSuppressed![$0])))</td>" }.joined()
                if let grand = table.grandTotal { body += "<td>\(esc(table.display(grand, suppressed: table.grandTotalSuppressed)))</td>" }
                body += "</tr>\n"
            }
            body += "</tbody>\n</table>\n"
            if table.rows.isEmpty { body += "<p class=\"empty\">No data for these filters.</p>\n" }
            if !table.note.isEmpty { body += "<p class=\"note\">\(esc(table.note))</p>\n" }
            body += "</section>\n"
        }
        let generated = ISO8601DateFormatter().string(from: report.generatedAt)
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(esc(report.title))</title>
        <style>
        body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 60rem; color: #1a202c; padding: 0 1rem; }
        h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
        h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #cbd5e0; padding-bottom: 0.2rem; }
        .meta, .note, .empty { color: #4a5568; font-size: 0.9rem; }
        table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
        th, td { border: 1px solid #cbd5e0; padding: 0.25rem 0.6rem; text-align: right; }
        th:first-child { text-align: left; }
        thead th { background: #edf2f7; }
        td.suppressed { color: #718096; background: repeating-linear-gradient(45deg, #f7fafc, #f7fafc 4px, #edf2f7 4px, #edf2f7 8px); }
        tr.total td, td.total { font-weight: 600; }
        svg { display: block; margin: 0.5rem 0; }
        svg text { font-size: 11px; fill: #2d3748; }
        @media print {
          body { margin: 0; max-width: none; }
          section { page-break-inside: avoid; }
          td.suppressed { background: none; }
        }
        </style>
        </head>
        <body>
        <h1>\(esc(report.title))</h1>
        <p class="meta">\(esc(report.filters)) · generated \(esc(generated)) · small-cell threshold k = \(report.k)</p>
        <p class="meta">\(esc(suppressionNote))</p>
        \(report.notes.map { "<p class=\"note\">\(esc($0))</p>" }.joined(separator: "\n"))
        \(body)
        </body>
        </html>
        """
    }

    /// A grouped bar chart: one group per column, one bar per row. Suppressed
    /// values are drawn as an outline with "*", never as a height.
    static func chart(_ table: ReportTable, esc: (String) -> String) -> String {
        let width = 760.0, height = 240.0, left = 40.0, bottom = 40.0, top = 16.0
        let plotHeight = height - bottom - top
        let visible = table.values.enumerated().flatMap { r, row in row.enumerated().filter { !table.suppressed[r][$0.offset] }.map(\.element) }
        let maximum = max(visible.max() ?? 1, 1)
        let groups = Double(table.columns.count)
        let groupWidth = (width - left - 10) / groups
        let barWidth = max(2, min(28, (groupWidth - 8) / Double(max(table.rows.count, 1))))
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(Int(width))\" height=\"\(Int(height + 18 * ceil(Double(table.rows.count) / 4)))\" role=\"img\" aria-label=\"\(esc(table.title))\">\n"
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(width - 10)\" y2=\"\(top + plotHeight)\" stroke=\"#4a5568\"/>\n"
        svg += "<text x=\"\(left - 6)\" y=\"\(top + 4)\" text-anchor=\"end\">\(Int(maximum))</text><text x=\"\(left - 6)\" y=\"\(top + plotHeight)\" text-anchor=\"end\">0</text>\n"
        for (c, column) in table.columns.enumerated() {
            let x0 = left + Double(c) * groupWidth + 4
            for r in table.rows.indices {
                let x = x0 + Double(r) * barWidth
                let color = palette[r % palette.count]
                if table.suppressed[r][c] {
                    svg += "<rect class=\"bar suppressed\" x=\"\(x)\" y=\"\(top + plotHeight - 14)\" width=\"\(barWidth - 1)\" height=\"14\" fill=\"none\" stroke=\"\(color)\" stroke-dasharray=\"2,2\"/>"
                    svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(top + plotHeight - 16)\" text-anchor=\"middle\">*</text>\n"
                } else {
                    let h = plotHeight * table.values[r][c] / maximum
                    svg += "<rect class=\"bar\" x=\"\(x)\" y=\"\(top + plotHeight - h)\" width=\"\(barWidth - 1)\" height=\"\(h)\" fill=\"\(color)\"><title>\(esc(table.rows[r])), \(esc(column)): \(Int(table.values[r][c]))</title></rect>\n"
                }
            }
            svg += "<text x=\"\(x0 + groupWidth / 2 - 4)\" y=\"\(top + plotHeight + 14)\" text-anchor=\"middle\">\(esc(column))</text>\n"
        }
        for (r, label) in table.rows.enumerated() {
            let x = left + Double(r % 4) * 180, y = height + 18 * Double(r / 4) - 4
            svg += "<rect x=\"\(x)\" y=\"\(y - 9)\" width=\"10\" height=\"10\" fill=\"\(palette[r % palette.count])\"/><text x=\"\(x + 14)\" y=\"\(y)\">\(esc(label))</text>\n"
        }
        return svg + "</svg>\n"
    }
}
