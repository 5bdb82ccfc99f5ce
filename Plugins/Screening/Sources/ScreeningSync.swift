import Foundation
import GRDB
import HavenPluginAPI
import HavenStorage
import HavenWire

/// What of the screening plugin syncs (Docs/sync.md): a desktop receives
/// the screenings and consent of the students its owner sees in full, and
/// sends back the screenings its owner gave — started, answered, submitted,
/// annotated — and consent recorded. A screening submitted on a desktop is
/// scored again on the server, by the server's instrument, and that score
/// is what routing acts on.
enum ScreeningSync {
    static func participant(core: any CoreServices, catalog: InstrumentCatalog) -> SyncParticipant {
        let ofStudents = "student_id IN (SELECT value FROM json_each(:students))"
        let ofAdministrations = "administration_id IN (SELECT id FROM screening_administrations WHERE \(ofStudents))"
        let ofAdministration = "(SELECT student_id FROM screening_administrations a WHERE a.id = administration_id)"
        /// The administration a row belongs to, on the server, and the owner's full access to its student.
        let requireAdministration: @Sendable (SyncRow, Caller, Database) throws -> Void = { row, caller, db in
            guard let administration = try ScreeningStore.administration(db, id: row.text("administration_id")) else {
                throw RPCError.failedPrecondition("the server has no screening \(row.text("administration_id"))")
            }
            _ = try core.requireAccess(caller, studentID: administration.studentID, db: db)
        }
        /// Answers only go to a screening not yet submitted on the server.
        let requireOpenAdministration: @Sendable (SyncRow, Caller, Database) throws -> Void = { row, caller, db in
            try requireAdministration(row, caller, db)
            if try ScreeningStore.administration(db, id: row.text("administration_id"))?.submitted == true {
                throw RPCError.failedPrecondition("screening \(row.text("administration_id")) was already submitted on the server; answers after that are not taken")
            }
        }
        return SyncParticipant(tables: [
            SyncTable(
                name: "screening_instruments",
                columns: [.init("id", .text), .init("version", .text), .init("title", .text), .init("document", .text),
                          .init("builtin", .integer), .init("imported_by", .text), .init("created_at", .integer), .init("origin_node", .text)],
                keySQL: "id || '@' || version",
                // Built-in instruments are compiled into every node; imported ones travel with the screenings that use them.
                pull: "builtin = 0 AND (id, version) IN (SELECT instrument_id, instrument_version FROM screening_administrations WHERE \(ofStudents))"),
            SyncTable(
                name: "screening_administrations",
                columns: [.init("id", .text), .init("student_id", .text), .init("instrument_id", .text), .init("instrument_version", .text),
                          .init("context", .text), .init("reason", .text), .init("concern_id", .text), .init("started_by", .text),
                          .init("started_at", .integer), .init("origin_node", .text)],
                pull: ofStudents,
                push: .init(authorColumn: "started_by", selection: "origin_node = :node") { row, caller, db in
                    guard try ScreeningStore.instrumentExists(db, id: row.text("instrument_id"), version: row.text("instrument_version")) else {
                        throw RPCError.failedPrecondition("the server has no instrument \(row.text("instrument_id"))@\(row.text("instrument_version"))")
                    }
                    _ = try core.requireAccess(caller, studentID: row.text("student_id"), db: db)
                }),
            SyncTable(
                name: "screening_answers",
                columns: [.init("administration_id", .text), .init("seq", .integer), .init("link_id", .text), .init("value", .text),
                          .init("answered_by", .text), .init("answered_at", .integer)],
                keySQL: "'answer:' || administration_id || ':' || seq",
                pull: ofAdministrations,
                push: .init(authorColumn: "answered_by", selection: "1", authorize: requireOpenAdministration),
                student: ofAdministration),
            SyncTable(
                name: "screening_results",
                columns: [.init("administration_id", .text), .init("total", .optionalReal), .init("band", .text), .init("subscales", .text),
                          .init("flags", .text), .init("missing", .text), .init("guidance", .text), .init("submitted_by", .text),
                          .init("submitted_at", .integer), .init("origin_node", .text)],
                keySQL: "'result:' || administration_id",
                pull: ofAdministrations,
                push: .init(authorColumn: "submitted_by", selection: "origin_node = :node", authorize: requireAdministration),
                received: { rows, receipt, db in
                    guard receipt.onServer, let context = receipt.context else { return }
                    for row in rows { try rescore(row, core: core, catalog: catalog, context: context, db) }
                },
                student: ofAdministration),
            SyncTable(
                name: "screening_annotations",
                columns: [.init("id", .text), .init("administration_id", .text), .init("author_id", .text), .init("body", .text),
                          .init("created_at", .integer), .init("origin_node", .text)],
                pull: ofAdministrations,
                push: .init(authorColumn: "author_id", selection: "origin_node = :node", authorize: requireAdministration),
                student: ofAdministration),
            SyncTable(
                name: "screening_consent",
                columns: [.init("id", .text), .init("student_id", .text), .init("state", .text), .init("note", .text),
                          .init("recorded_by", .text), .init("recorded_at", .integer), .init("origin_node", .text)],
                pull: ofStudents,
                push: .init(authorColumn: "recorded_by", selection: "origin_node = :node") { row, caller, db in
                    _ = try core.requireAccess(caller, studentID: row.text("student_id"), db: db)
                }),
        ])
    }

    /// Scores a screening submitted on a desktop with the server's own
    /// instrument, publishes that result for routing, and audits a
    /// disagreement with the desktop's result.
    private static func rescore(_ row: SyncRow, core: any CoreServices, catalog: InstrumentCatalog, context: CallContext, _ db: Database) throws {
        guard let administration = try ScreeningStore.administration(db, id: row.text("administration_id")),
              let instrument = catalog.instrument(administration.instrumentID, version: administration.instrumentVersion) else { return }
        let score = instrument.score(try instrument.normalize(ScreeningStore.answers(db, administrationID: administration.id)))
        let student = try core.student(administration.studentID, db: db)
        let flags = score.flags.map(\.name).joined(separator: ",")
        let sentFlags = ScreeningStore.flags(row.text("flags")).map(\.name)
        if score.band != row.text("band") || flags != sentFlags.joined(separator: ",") {
            try core.audit(AuditRecord(action: "sync.score_mismatch", studentID: administration.studentID, recordIDs: [administration.id],
                                       purpose: "the desktop scored \(row.text("band")) [\(sentFlags.joined(separator: ","))]; the server scores \(score.band) [\(flags)] and routes on its own score",
                                       outcome: "flagged"), context: context, db: db)
        }
        try core.publish(ScreeningEvents.completed(
            administrationID: administration.id, instrument: instrument, score: score, context: administration.context,
            concernID: administration.concernID, student: student, studentID: administration.studentID, submittedBy: row.text("submitted_by")), db: db)
        try core.audit(AuditRecord(action: "screening.submit", studentID: administration.studentID, recordIDs: [administration.id], fields: ["result"],
                                   purpose: "\(instrument.id)@\(instrument.version), synced from \(row.text("origin_node"))"), context: context, db: db)
    }
}
