import Foundation
import GRDB
import HavenPluginAPI
import HavenScreeningProto
import HavenStorage

/// The `screening` plugin: validated questionnaires scored exactly, with the
/// risk flags that routing relies on.
public struct ScreeningPlugin: HavenPlugin {
    public static let id = "screening"

    public init() {}

    public var manifest: PluginManifest {
        PluginManifest(
            id: Self.id, version: "0.1.0",
            description: "Screening questionnaires (PHQ-9, PHQ-A, PHQ-2, GAD-7, GAD-2, ASQ, PSC-17) as FHIR Questionnaires, scored exactly, with risk flags",
            services: [ScreeningService.name],
            descriptorSetBase64: ScreeningProtoDescriptors.fileDescriptorSetBase64)
    }

    public var migrations: [Migration] {
        [Migration("0001-plugin-state") { db in
            try db.execute(sql: "CREATE TABLE screening_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT")
        }] + ScreeningStore.migrations
    }

    /// Demo screenings: consent recorded for most students, and a few results
    /// from the past weeks (which routing then acts on).
    public func seedDemoData(_ context: PluginContext) async throws {
        let catalog = InstrumentCatalog()
        try catalog.load(database: context.database, node: context.nodeID)
        let core = context.core
        let seeds: [(school: Int, student: Int, instrument: String, answers: [String], daysAgo: Double)] = [
            (0, 3, "phq-a", ["2", "2", "1", "2", "1", "2", "1", "0", "0", "yes", "1", "no", "no"], 11),
            (0, 11, "gad-7", ["1", "1", "2", "1", "0", "1", "1"], 8),
            (0, 20, "asq", ["yes", "no", "no", "no", "no"], 2),
            (1, 9, "psc-17", ["0", "2", "0", "1", "0", "2", "0", "0", "1", "0", "1", "0", "0", "0", "2", "0", "0"], 5),
        ]
        try await context.database.writer.write { db in
            let schools = try core.schools(db: db)
            let now = core.clock.now()
            for (index, school) in schools.enumerated() {
                for studentID in try core.studentIDs(schoolID: school.id, db: db).enumerated().filter({ $0.offset % 5 != 4 }).map(\.element) {
                    try ScreeningStore.setConsent(db, studentID: studentID, state: "granted", note: "demo: signed form on file", by: "demo",
                                                  at: StoredTime.ms(now.addingTimeInterval(-30 * 86_400 - Double(index))), node: core.nodeID)
                }
            }
            for seed in seeds where seed.school < schools.count {
                let students = try core.studentIDs(schoolID: schools[seed.school].id, db: db)
                guard seed.student < students.count, let instrument = catalog.instrument(seed.instrument),
                      let student = try core.student(students[seed.student], db: db) else { continue }
                let at = now.addingTimeInterval(-seed.daysAgo * 86_400)
                let ms = StoredTime.ms(at)
                let id = RecordID.make(at: at)
                try ScreeningStore.insertAdministration(db, .init(
                    id: id, studentID: student.id, instrumentID: instrument.id, instrumentVersion: instrument.version, context: "individual",
                    reason: "demo", concernID: "", startedBy: "demo", startedAt: ms, node: core.nodeID, submitted: false))
                let answers = Array(zip(instrument.rules.itemOrder, seed.answers)).map { (linkId: $0.0, value: $0.1) }
                try ScreeningStore.appendAnswers(db, administrationID: id, answers, by: "demo", at: ms)
                let score = instrument.score(try instrument.normalize(answers.map { ($0.linkId, $0.value) }))
                try ScreeningStore.insertResult(db, administrationID: id, score, by: "demo", at: ms, node: core.nodeID)
                try core.publish(ScreeningEvents.completed(
                    administrationID: id, instrument: instrument, score: score, context: "individual", concernID: "",
                    student: student, studentID: student.id, submittedBy: ""), db: db)
            }
        }
    }

    public func activate(_ context: PluginContext) async throws -> PluginActivation {
        let catalog = InstrumentCatalog()
        try catalog.load(database: context.database, node: context.nodeID)
        context.core.registerSync(ScreeningSync.participant(core: context.core, catalog: catalog))
        return PluginActivation(
            services: [ScreeningService(core: context.core, catalog: catalog).definition],
            timelineContributors: [ScreeningTimeline(catalog: catalog)])
    }
}

/// Screenings on the student timeline, for those who see the student's case.
struct ScreeningTimeline: TimelineContributor {
    let catalog: InstrumentCatalog

    func timelineEntries(studentID: String, access: AccessDecision, caller: Caller, db: Database) throws -> [TimelineEntry] {
        guard access.isFull else { return [] }
        return try ScreeningStore.timelineRows(db, studentID: studentID).map { row in
            let title = catalog.instrument(row.instrumentID, version: row.instrumentVersion)?.title ?? row.instrumentID
            if let result = row.result {
                var detail = "Result: \(result.band)"
                if let total = result.total { detail += ", total \(formatScore(total))" }
                if !result.flagNames.isEmpty { detail += "; flags: \(result.flagNames.joined(separator: ", "))" }
                return TimelineEntry(id: row.id, kind: "screening", occurredAt: StoredTime.date(result.submittedAt), title: "Screening: \(title)",
                                     detail: detail, recordID: row.id, source: ScreeningPlugin.id)
            }
            return TimelineEntry(id: row.id, kind: "screening", occurredAt: StoredTime.date(row.startedAt), title: "Screening started: \(title)",
                                 detail: "In progress (\(row.context))", recordID: row.id, source: ScreeningPlugin.id)
        }
    }
}
