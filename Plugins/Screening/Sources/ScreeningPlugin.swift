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

    public func activate(_ context: PluginContext) async throws -> PluginActivation {
        let catalog = InstrumentCatalog()
        try catalog.load(database: context.database, node: context.nodeID)
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
        return try ScreeningStore.administrationIDs(db, studentID: studentID, status: nil).compactMap { id in
            guard let row = try ScreeningStore.administration(db, id: id) else { return nil }
            let title = catalog.instrument(row.instrumentID, version: row.instrumentVersion)?.title ?? row.instrumentID
            if let result = try ScreeningStore.result(db, administrationID: id) {
                var detail = "Result: \(result.band)"
                if let total = result.total { detail += ", total \(formatScore(total))" }
                if !result.flags.isEmpty { detail += "; flags: \(result.flags.map(\.name).joined(separator: ", "))" }
                return TimelineEntry(id: id, kind: "screening", occurredAt: StoredTime.date(result.submittedAt), title: "Screening: \(title)",
                                     detail: detail, recordID: id, source: ScreeningPlugin.id)
            }
            return TimelineEntry(id: id, kind: "screening", occurredAt: StoredTime.date(row.startedAt), title: "Screening started: \(title)",
                                 detail: "In progress (\(row.context))", recordID: id, source: ScreeningPlugin.id)
        }
    }
}
