import Foundation
import GRDB
import HavenConfig
import HavenPluginAPI
import HavenReportingProto
import HavenStorage
import HavenWire

/// The `reporting` plugin: aggregate reports that never let a reader work out
/// which child is behind a number.
public struct ReportingPlugin: HavenPlugin {
    public static let id = "reporting"

    public init() {}

    public var manifest: PluginManifest {
        PluginManifest(
            id: Self.id, version: "0.1.0",
            description: "Aggregate reports with small-cell suppression; CSV, JSON and self-contained HTML",
            services: [ReportsService.name],
            descriptorSetBase64: ReportingProtoDescriptors.fileDescriptorSetBase64)
    }

    public var migrations: [Migration] {
        [Migration("0001-plugin-state") { db in
            try db.execute(sql: "CREATE TABLE reporting_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT")
        }]
    }

    struct Settings: Sendable {
        var k = 10
        var terms: [Term] = []
    }

    public func readSettings(_ section: ConfigSection) -> any Sendable {
        var settings = Settings()
        if let k = section.integer("k") {
            if k < 5 { section.report("k", "the small-cell threshold is never below 5 (got \(k))") } else { settings.k = k }
        }
        for term in section.sections("terms") {
            guard let name = term.string("name"), let start = term.string("start") ?? dateText(term, "start"), let end = term.string("end") ?? dateText(term, "end") else {
                term.report(nil, "a term needs name, start and end (dates, e.g. 2026-08-24)")
                continue
            }
            if start > end { term.report("end", "the term ends before it starts") }
            settings.terms.append(Term(name: name, start: start, end: end))
            term.rejectUnknownKeys()
        }
        return settings
    }

    private func dateText(_ section: ConfigSection, _ key: String) -> String? {
        if case .datetime(let text)? = section.table[key] { _ = section.contains(key); return String(text.prefix(10)) }
        return nil
    }

    public func activate(_ context: PluginContext) async throws -> PluginActivation {
        let settings = context.settings(as: Settings.self) ?? Settings()
        return PluginActivation(services: [ReportsService(core: context.core, settings: settings).definition])
    }
}

/// haven.reports.v1.Reports.
struct ReportsService {
    static let name = "haven.reports.v1.Reports"
    static let readers: Set<Role> = [.analyst, .admin, .administrator, .counselor, .socialWorker, .psychologist]

    static let catalog: [(id: String, title: String, description: String, roles: Set<Role>)] = [
        ("concerns", "Concerns", "Concerns by category and period, with breakdowns by school, grade and severity", readers),
        ("screening", "Screening", "Screenings and positive rates by instrument, period and band, and results by grade", readers),
        ("referrals", "Referrals", "Referral volume by priority and rule, time to acknowledgement, overdue and escalated counts, dispositions", readers),
        ("caseload", "Caseload", "Open referrals and concerns per staff member (administrators only)", [.admin, .administrator]),
    ]

    let core: any CoreServices
    let settings: ReportingPlugin.Settings

    var definition: ServiceDefinition {
        ServiceDefinition(name: Self.name, methods: [
            .unary("ListReports", Haven_Reports_V1_ListReportsRequest.self, Haven_Reports_V1_ListReportsResponse.self, access: .roles(Self.readers)) { _, _ in
                .with { $0.reports = Self.catalog.map { r in .with { $0.id = r.id; $0.title = r.title; $0.description_p = r.description; $0.roles = r.roles.sorted().map(\.rawValue) } } }
            },
            .unary("Run", Haven_Reports_V1_RunReportRequest.self, Haven_Reports_V1_Report.self, access: .roles(Self.readers), run),
        ])
    }

    @Sendable func run(_ request: Haven_Reports_V1_RunReportRequest, _ context: CallContext) async throws -> Haven_Reports_V1_Report {
        guard let entry = Self.catalog.first(where: { $0.id == request.report }) else {
            throw RPCError.invalidArgument("report: \"\(request.report)\" is not one of \(Self.catalog.map(\.id).joined(separator: ", "))")
        }
        let period = request.period.isEmpty ? Period.month : Period(rawValue: request.period)
        guard let period else { throw RPCError.invalidArgument("period: week, month or term") }
        if period == .term, settings.terms.isEmpty {
            throw RPCError.failedPrecondition("no terms are configured ([[plugins.reporting.terms]] in the config); use week or month")
        }
        guard ["", "table", "json", "csv", "html"].contains(request.format) else { throw RPCError.invalidArgument("format: json, csv or html") }
        if request.hasFrom, request.hasTo, request.from.date >= request.to.date { throw RPCError.invalidArgument("from must be before to") }
        let k = settings.k
        let now = core.clock.now()
        // A report reads many rows: it runs on a snapshot, never holding up a write.
        let data = try await core.read(context) { db, trail -> ReportData in
            let caller = context.caller
            guard caller.hasAny(entry.roles) else {
                throw AccessDenied("the \(entry.id) report is for \(entry.roles.sorted().map(\.rawValue).joined(separator: ", "))")
            }
            // Analysts and admins report on the district; others on their own schools.
            var schools: [String]?
            if !caller.hasAny([.analyst, .admin]) {
                let mine = try core.staffMember(caller.staffID!, db: db)?.schoolIDs ?? []
                schools = mine
                if !request.schoolID.isEmpty {
                    guard mine.contains(request.schoolID) else { throw AccessDenied("you can report on your own schools only") }
                    schools = [request.schoolID]
                }
            } else if !request.schoolID.isEmpty {
                schools = [request.schoolID]
            }
            let filter = ReportBuilder.Filter(
                from: request.hasFrom ? StoredTime.ms(request.from.date) : nil, to: request.hasTo ? StoredTime.ms(request.to.date) : nil,
                schoolIDs: schools, grade: request.grade.isEmpty ? nil : request.grade, period: period, terms: settings.terms)
            let builder = ReportBuilder(k: k)
            let tables: [ReportTable] = switch entry.id {
            case "concerns": try builder.concerns(db, filter)
            case "screening": try builder.screening(db, filter)
            case "referrals": try builder.referrals(db, filter)
            default: try builder.caseload(db, filter)
            }
            let filters = describe(request, period: period, schools: schools)
            trail.record(AuditRecord(action: "report.run", fields: [entry.id], purpose: "\(filters); format \(request.format.isEmpty ? "structured" : request.format)"))
            var notes: [String] = []
            if tables.isEmpty { notes.append("The plugin that stores this data is not enabled, so the report is empty.") }
            return ReportData(id: entry.id, title: "\(entry.title) report", description: entry.description, filters: filters, k: k, generatedAt: now,
                              tables: tables, notes: notes)
        }
        return message(data, format: request.format)
    }

    private func describe(_ r: Haven_Reports_V1_RunReportRequest, period: Period, schools: [String]?) -> String {
        let day = { (d: Date) in String(ISO8601DateFormatter().string(from: d).prefix(10)) }
        var parts: [String] = []
        parts.append(r.hasFrom ? "from \(day(r.from.date))" : "from the start")
        parts.append(r.hasTo ? "to \(day(r.to.date))" : "to now")
        parts.append(schools.map { $0.count == 1 ? "school \($0[0])" : "\($0.count) schools" } ?? "all schools")
        if !r.grade.isEmpty { parts.append("grade \(r.grade)") }
        parts.append("by \(period.rawValue)")
        return parts.joined(separator: ", ")
    }

    private func message(_ data: ReportData, format: String) -> Haven_Reports_V1_Report {
        func cell(_ t: ReportTable, _ v: Double, _ hidden: Bool) -> Haven_Reports_V1_Cell {
            .with { $0.suppressed = hidden; $0.value = hidden ? 0 : v; $0.display = t.display(v, suppressed: hidden) }
        }
        return Haven_Reports_V1_Report.with { r in
            r.report = data.id
            r.title = data.title
            r.description_p = data.description
            r.k = Int32(data.k)
            r.generatedAt = .init(date: data.generatedAt)
            r.filters = data.filters
            r.notes = data.notes + [ReportRenderer.suppressionNote]
            r.tables = data.tables.map { t in
                .with { m in
                    m.id = t.id
                    m.title = t.title
                    m.rowHeading = t.rowHeading
                    m.columns = t.columns
                    m.kind = t.kind.rawValue
                    m.note = t.note
                    m.rows = t.rows.enumerated().map { ri, label in
                        .with { row in
                            row.label = label
                            row.cells = t.values[ri].indices.map { cell(t, t.values[ri][$0], t.suppressed[ri][$0]) }
                            if let totals = t.rowTotals { row.total = cell(t, totals[ri], t.rowTotalSuppressed![ri]) }
                        }
                    }
                    if let totals = t.columnTotals {
                        m.hasTotals_p = true
                        m.columnTotals = totals.indices.map { cell(t, totals[$0], t.columnTotalSuppressed![$0]) }
                        m.grandTotal = cell(t, t.grandTotal ?? 0, t.grandTotalSuppressed)
                    }
                }
            }
            switch format {
            case "csv": r.rendered = ReportRenderer.csv(data); r.mediaType = "text/csv"
            case "json": r.rendered = ReportRenderer.json(data); r.mediaType = "application/json"
            case "html": r.rendered = ReportRenderer.html(data); r.mediaType = "text/html"
            default: break
            }
        }
    }
}
