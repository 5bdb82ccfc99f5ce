import Foundation
import GRDB
import HavenJSON
import HavenPluginAPI
import HavenScreeningProto
import HavenStorage
import HavenWire

/// haven.screening.v1.Screening.
struct ScreeningService {
    static let name = "haven.screening.v1.Screening"
    let core: any CoreServices
    let catalog: InstrumentCatalog


    var definition: ServiceDefinition {
        let admins = MethodAccess.roles([.admin])
        return ServiceDefinition(name: Self.name, methods: [
            .unary("ListInstruments", Haven_Screening_V1_ListInstrumentsRequest.self, Haven_Screening_V1_ListInstrumentsResponse.self, access: .staff) { _, _ in
                .with { $0.instruments = catalog.latest.map { $0.message(withItems: false) } }
            },
            .unary("GetInstrument", Haven_Screening_V1_GetInstrumentRequest.self, Haven_Screening_V1_Instrument.self, access: .staff) { request, _ in
                try instrument(request.id, request.version).message(withItems: true)
            },
            .unary("ImportInstrument", Haven_Screening_V1_ImportInstrumentRequest.self, Haven_Screening_V1_ImportInstrumentResponse.self, access: admins, importInstrument),
            .unary("AttachRules", Haven_Screening_V1_AttachRulesRequest.self, Haven_Screening_V1_ImportInstrumentResponse.self, access: admins, attachRules),
            .unary("Score", Haven_Screening_V1_ScoreRequest.self, Haven_Screening_V1_ScoreResult.self, access: .staff) { request, _ in
                let instrument = try instrument(request.instrument.id, request.instrument.version)
                let answers = request.positional
                    ? try instrument.normalize(positional: request.positionalAnswers)
                    : try instrument.normalize(request.answers.map { ($0.linkID, $0.value) })
                return instrument.score(answers).message(instrument)
            },
            .unary("Start", Haven_Screening_V1_StartRequest.self, Haven_Screening_V1_Administration.self, access: .staff, start),
            .unary("Answer", Haven_Screening_V1_AnswerRequest.self, Haven_Screening_V1_Administration.self, access: .staff) { request, context in
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    let (row, instrument) = try administration(db, request.administrationID, context)
                    guard !row.submitted else { throw RPCError.failedPrecondition("this screening was submitted; it can be annotated, not changed") }
                    let answers = request.answers.map { ($0.linkID, $0.value.trimmingCharacters(in: .whitespaces)) }
                    _ = try instrument.normalize(answers)   // every value must be valid before any is stored
                    try ScreeningStore.appendAnswers(db, administrationID: row.id, answers.map { (linkId: $0.0, value: $0.1) }, by: context.caller.staffID!, at: now)
                    try core.audit(AuditRecord(action: "screening.answer", studentID: row.studentID, recordIDs: [row.id], fields: answers.map(\.0)), context: context, db: db)
                    return try message(db, row.id, instrument)
                }
            },
            .unary("Submit", Haven_Screening_V1_SubmitRequest.self, Haven_Screening_V1_Administration.self, access: .staff, submit),
            .unary("Get", Haven_Screening_V1_GetAdministrationRequest.self, Haven_Screening_V1_Administration.self, access: .staff) { request, context in
                try await core.read(context) { db, trail in
                    let (row, instrument) = try administration(db, request.administrationID, context)
                    trail.record(AuditRecord(action: "screening.read", studentID: row.studentID, recordIDs: [row.id], fields: ["answers", "result"]))
                    return try message(db, row.id, instrument)
                }
            },
            .unary("List", Haven_Screening_V1_ListAdministrationsRequest.self, Haven_Screening_V1_ListAdministrationsResponse.self, access: .staff) { request, context in
                try await core.read(context) { db, trail in
                    guard let student = try core.student(request.studentID, db: db) else { throw RPCError.notFound("there is no student \(request.studentID)") }
                    _ = try core.requireAccess(context.caller, studentID: student.id, db: db)
                    let ids = try ScreeningStore.administrationIDs(db, studentID: student.id, status: request.status.isEmpty ? nil : request.status)
                    trail.record(AuditRecord(action: "screening.list", studentID: student.id, recordIDs: ids, fields: ["result"]))
                    return .with { r in
                        r.administrations = ids.compactMap { id in
                            guard let row = try? ScreeningStore.administration(db, id: id),
                                  let instrument = catalog.instrument(row.instrumentID, version: row.instrumentVersion) else { return nil }
                            return try? message(db, id, instrument)
                        }
                    }
                }
            },
            .unary("Annotate", Haven_Screening_V1_AnnotateRequest.self, Haven_Screening_V1_Administration.self, access: .staff) { request, context in
                guard let body = request.body.trimmingCharacters(in: .whitespacesAndNewlines).nonEmpty else { throw RPCError.invalidArgument("body: the annotation is empty") }
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    let (row, instrument) = try administration(db, request.administrationID, context)
                    try ScreeningStore.annotate(db, administrationID: row.id, author: context.caller.staffID!, body: body, at: now, node: core.nodeID)
                    try core.audit(AuditRecord(action: "screening.annotate", studentID: row.studentID, recordIDs: [row.id], fields: ["annotation"]), context: context, db: db)
                    return try message(db, row.id, instrument)
                }
            },
            .unary("ExportResponse", Haven_Screening_V1_ExportResponseRequest.self, Haven_Screening_V1_ExportResponseResponse.self, access: .staff) { request, context in
                try await core.perform(context) { db in
                    let (row, instrument) = try administration(db, request.administrationID, context)
                    let answers = try ScreeningStore.answers(db, administrationID: row.id)
                    let result = try ScreeningStore.result(db, administrationID: row.id)
                    try core.audit(AuditRecord(action: "screening.export", studentID: row.studentID, recordIDs: [row.id], fields: ["answers", "result"],
                                               purpose: "fhir_questionnaire_response"), context: context, db: db)
                    return .with { $0.json = QuestionnaireResponseExport.json(row, instrument, answers, result) }
                }
            },
            .unary("SetConsent", Haven_Screening_V1_SetConsentRequest.self, Haven_Screening_V1_Consent.self, access: .staff) { request, context in
                guard ["granted", "refused", "not_asked"].contains(request.state) else {
                    throw RPCError.invalidArgument("state: \"\(request.state)\" is not one of granted, refused, not_asked")
                }
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    guard let student = try core.student(request.studentID, db: db) else { throw RPCError.notFound("there is no student \(request.studentID)") }
                    _ = try core.requireAccess(context.caller, studentID: student.id, db: db)
                    try ScreeningStore.setConsent(db, studentID: student.id, state: request.state, note: request.note, by: context.caller.staffID!, at: now, node: core.nodeID)
                    try core.publish(NewEvent(type: "screening.consent_changed", studentID: student.id, schoolID: student.schoolID, attributes: ["state": request.state]), db: db)
                    try core.audit(AuditRecord(action: "screening.consent", studentID: student.id, fields: ["consent"], purpose: request.state), context: context, db: db)
                    return try consent(db, student.id)
                }
            },
            .unary("GetConsent", Haven_Screening_V1_GetConsentRequest.self, Haven_Screening_V1_Consent.self, access: .staff) { request, context in
                try await core.perform(context) { db in
                    guard let student = try core.student(request.studentID, db: db) else { throw RPCError.notFound("there is no student \(request.studentID)") }
                    _ = try core.requireAccess(context.caller, studentID: student.id, db: db)
                    try core.audit(AuditRecord(action: "screening.consent.read", studentID: student.id, fields: ["consent"]), context: context, db: db)
                    return try consent(db, student.id)
                }
            },
        ])
    }

    // MARK: Instruments

    func instrument(_ id: String, _ version: String) throws -> Instrument {
        guard let instrument = catalog.instrument(id, version: version) else {
            if catalog.instrument(id) != nil { throw RPCError.notFound("instrument \(id) has no version \(version)") }
            throw RPCError.notFound("there is no instrument \"\(id)\"; instruments are \(catalog.ids.joined(separator: ", "))")
        }
        return instrument
    }

    @Sendable func importInstrument(_ request: Haven_Screening_V1_ImportInstrumentRequest, _ context: CallContext) async throws -> Haven_Screening_V1_ImportInstrumentResponse {
        let bytes = Array(request.json)
        switch InstrumentDocument.parse(bytes, id: request.id.isEmpty ? nil : request.id) {
        case .failure(let failure):
            return .with { r in r.problems = failure.problems.map { p in .with { $0.path = p.path; $0.message = p.message } } }
        case .success(let instrument):
            return try await store(instrument, document: documentText(bytes, instrument), context)
        }
    }

    @Sendable func attachRules(_ request: Haven_Screening_V1_AttachRulesRequest, _ context: CallContext) async throws -> Haven_Screening_V1_ImportInstrumentResponse {
        let base = try instrument(request.id, "")
        guard !base.builtin else { throw RPCError.failedPrecondition("\(base.id) is built in; its rules are part of Haven") }
        let root: JSONValue
        do { root = try JSONParser.parse(Array(request.rulesJson)) } catch {
            return .with { $0.problems = [.with { $0.path = "$"; $0.message = "not valid JSON: \(error)" }] }
        }
        let problems = JSONProblems()
        guard let rules = ScoringRulesParser.parse(JSONCursor(root, problems: problems), questionnaire: base.questionnaire), problems.isEmpty else {
            return .with { r in r.problems = problems.all.map { p in .with { $0.path = p.path; $0.message = p.message } } }
        }
        var versioned = base
        versioned.rules = rules
        var n = 1
        let stem = base.version.split(separator: "-r").first.map(String.init) ?? base.version
        while catalog.instrument(base.id, version: "\(stem)-r\(n)") != nil { n += 1 }
        versioned.version = "\(stem)-r\(n)"
        let document = JSONValue.object([("id", .string(base.id)), ("version", .string(versioned.version)),
                                         ("questionnaire", base.questionnaire.json), ("scoring", root)])
        return try await store(versioned, document: JSONWriter.write(document, pretty: false), context)
    }

    /// The stored document always has the wrapper form, so it re-parses to the same instrument.
    private func documentText(_ bytes: [UInt8], _ instrument: Instrument) -> String {
        let parsed = (try? JSONParser.parse(bytes)) ?? .null
        if parsed["resourceType"] != nil {
            return JSONWriter.write(.object([("id", .string(instrument.id)), ("questionnaire", parsed)]), pretty: false)
        }
        if var members = parsed.objectValue, parsed["id"] == nil {
            members.insert(("id", .string(instrument.id)), at: 0)
            return JSONWriter.write(.object(members), pretty: false)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The largest instrument document kept: far above any real questionnaire,
    /// and small enough to travel to a desktop in one sync row.
    static let maxDocumentBytes = 1 << 20

    private func store(_ instrument: Instrument, document: String, _ context: CallContext) async throws -> Haven_Screening_V1_ImportInstrumentResponse {
        guard document.utf8.count <= Self.maxDocumentBytes else {
            return .with { $0.problems = [.with {
                $0.path = "$"
                $0.message = "the instrument document is \(document.utf8.count) bytes; at most \(Self.maxDocumentBytes) are kept"
            }] }
        }
        if let existing = catalog.instrument(instrument.id), existing.builtin {
            throw RPCError.alreadyExists("\(instrument.id) is a built-in instrument; import yours under another id")
        }
        let now = StoredTime.ms(core.clock.now())
        try await core.perform(context) { db in
            if try ScreeningStore.instrumentExists(db, id: instrument.id, version: instrument.version) {
                throw RPCError.alreadyExists("instrument \(instrument.id) version \(instrument.version) exists; give the Questionnaire a new version")
            }
            try ScreeningStore.insertInstrument(db, instrument, document: document, by: context.caller.staffID!, node: core.nodeID, at: now)
            try core.audit(AuditRecord(action: "screening.instrument.import", recordIDs: ["\(instrument.id)@\(instrument.version)"]), context: context, db: db)
        }
        catalog.add(instrument)
        return .with {
            $0.imported = true
            $0.ref = instrument.ref
        }
    }

    // MARK: Administration

    @Sendable func start(_ request: Haven_Screening_V1_StartRequest, _ context: CallContext) async throws -> Haven_Screening_V1_Administration {
        let instrument = try instrument(request.instrumentID, "")
        let context_ = request.context.isEmpty ? "individual" : request.context
        guard ["scheduled", "individual"].contains(context_) else {
            throw RPCError.invalidArgument("context: \"scheduled\" (part of a screening programme) or \"individual\" (prompted by a concern)")
        }
        let now = core.clock.now()
        let id = RecordID.make(at: now)
        return try await core.perform(context) { db in
            guard let student = try core.student(request.studentID, db: db) else { throw RPCError.notFound("there is no student \(request.studentID)") }
            _ = try core.requireAccess(context.caller, studentID: student.id, db: db)
            let consentState = try ScreeningStore.consent(db, studentID: student.id).map { $0["state"] as String } ?? "not_asked"
            if consentState != "granted" {
                if context_ == "scheduled" {
                    throw RPCError.failedPrecondition(
                        "scheduled screening needs parental consent (PPRA), and consent for \(student.displayName) is \(consentState == "refused" ? "refused" : "not recorded"); record it with `haven screening consent`, or run an individual screening prompted by a concern, with a reason")
                }
                guard !request.reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw RPCError.failedPrecondition(
                        "consent for \(student.displayName) is \(consentState == "refused" ? "refused" : "not recorded"); an individual screening prompted by a concern may proceed only with a recorded reason (--reason)")
                }
            }
            try ScreeningStore.insertAdministration(db, .init(
                id: id, studentID: student.id, instrumentID: instrument.id, instrumentVersion: instrument.version, context: context_,
                reason: request.reason, concernID: request.concernID, startedBy: context.caller.staffID!, startedAt: StoredTime.ms(now),
                node: core.nodeID, submitted: false))
            try core.audit(AuditRecord(action: "screening.start", studentID: student.id, recordIDs: [id], purpose: "\(context_); consent \(consentState)"),
                           context: context, db: db)
            return try message(db, id, instrument)
        }
    }

    @Sendable func submit(_ request: Haven_Screening_V1_SubmitRequest, _ context: CallContext) async throws -> Haven_Screening_V1_Administration {
        let now = StoredTime.ms(core.clock.now())
        return try await core.perform(context) { db in
            let (row, instrument) = try administration(db, request.administrationID, context)
            guard !row.submitted else { throw RPCError.failedPrecondition("this screening was already submitted") }
            let answers = try instrument.normalize(ScreeningStore.answers(db, administrationID: row.id))
            let score = instrument.score(answers)
            try ScreeningStore.insertResult(db, administrationID: row.id, score, by: context.caller.staffID!, at: now, node: core.nodeID)
            let student = try core.student(row.studentID, db: db)
            try core.publish(ScreeningEvents.completed(
                administrationID: row.id, instrument: instrument, score: score, context: row.context, concernID: row.concernID,
                student: student, studentID: row.studentID, submittedBy: context.caller.staffID ?? ""), db: db)
            try core.audit(AuditRecord(action: "screening.submit", studentID: row.studentID, recordIDs: [row.id], fields: ["result"],
                                       purpose: "\(instrument.id)@\(instrument.version)"), context: context, db: db)
            return try message(db, row.id, instrument)
        }
    }

    /// The administration and its instrument, if the caller may see the student's case.
    private func administration(_ db: Database, _ id: String, _ context: CallContext) throws -> (ScreeningStore.AdministrationRow, Instrument) {
        guard let row = try ScreeningStore.administration(db, id: id) else { throw RPCError.notFound("there is no screening \(id)") }
        _ = try core.requireAccess(context.caller, studentID: row.studentID, db: db)
        guard let instrument = catalog.instrument(row.instrumentID, version: row.instrumentVersion) else {
            throw RPCError.internal("instrument \(row.instrumentID)@\(row.instrumentVersion) is missing")
        }
        return (row, instrument)
    }

    func message(_ db: Database, _ id: String, _ instrument: Instrument) throws -> Haven_Screening_V1_Administration {
        guard let row = try ScreeningStore.administration(db, id: id) else { throw RPCError.notFound("there is no screening \(id)") }
        let answers = try ScreeningStore.answers(db, administrationID: id)
        let result = try ScreeningStore.result(db, administrationID: id)
        let values = (try? instrument.normalize(answers)) ?? [:]
        let next = instrument.rules.itemOrder.first { linkId in
            guard let item = instrument.questionnaire.item(linkId) else { return false }
            return values[linkId] == nil && instrument.isEnabled(item, answers: values)
        }
        return Haven_Screening_V1_Administration.with { m in
            m.id = row.id
            m.studentID = row.studentID
            m.instrument = instrument.ref
            m.status = row.submitted ? "submitted" : "in_progress"
            m.context = row.context
            m.reason = row.reason
            m.concernID = row.concernID
            m.startedBy = row.startedBy
            m.startedAt = .init(date: StoredTime.date(row.startedAt))
            m.answers = answers.map { a in .with { $0.linkID = a.linkId; $0.value = a.value } }
            if let result {
                m.result = result.message(instrument.ref)
                m.submittedAt = .init(date: StoredTime.date(result.submittedAt))
            }
            m.annotations = ((try? ScreeningStore.annotations(db, administrationID: id)) ?? []).map { n in
                .with {
                    $0.id = n["id"]
                    $0.authorID = n["author_id"]
                    $0.authorName = n["display_name"] ?? ""
                    $0.createdAt = .init(date: StoredTime.date(n["created_at"]))
                    $0.body = n["body"]
                }
            }
            m.originNode = row.node
            m.nextItem = row.submitted ? "" : (next ?? "")
        }
    }

    private func consent(_ db: Database, _ studentID: String) throws -> Haven_Screening_V1_Consent {
        let row = try ScreeningStore.consent(db, studentID: studentID)
        return .with {
            $0.studentID = studentID
            $0.state = row?["state"] ?? "not_asked"
            $0.recordedBy = row?["recorded_by"] ?? ""
            if let at: Int64 = row?["recorded_at"] { $0.recordedAt = .init(date: StoredTime.date(at)) }
            $0.note = row?["note"] ?? ""
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
