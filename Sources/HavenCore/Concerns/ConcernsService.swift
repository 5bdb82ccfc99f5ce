import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire
import HavenTime

/// haven.v1.Concerns: write down a worry in a minute; correct it with
/// amendments, never edits; move it to closed with a disposition.
struct ConcernsService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Concerns", methods: [
            .unary("Create", Haven_V1_CreateConcernRequest.self, Haven_V1_CreateConcernResponse.self, access: .staff, create),
            .unary("Get", Haven_V1_GetConcernRequest.self, Haven_V1_Concern.self, access: .staff) { request, context in
                try await core.read(context) { db, trail in
                    let (row, _) = try readable(db, request.concernID, context)
                    trail.record(AuditRecord(action: "concern.read", studentID: row["student_id"], recordIDs: [request.concernID],
                                             fields: ["category", "severity", "narrative", "location", "history"]))
                    return try ConcernStore.message(db, row, history: true)
                }
            },
            .unary("List", Haven_V1_ListConcernsRequest.self, Haven_V1_ListConcernsResponse.self, access: .staff, list),
            .unary("AddNote", Haven_V1_AddNoteRequest.self, Haven_V1_Concern.self, access: .staff) { request, context in
                guard let body = request.body.nonEmpty else { throw RPCError.invalidArgument("body: the note is empty") }
                guard body.count <= ConcernRules.maxNarrative else { throw RPCError.invalidArgument("body: a note holds at most \(ConcernRules.maxNarrative) characters") }
                return try await change(request.concernID, context, action: "concern.note", fields: ["note"], change: "note") { db, _ in
                    ConcernStore.Entry(kind: "note", authorID: context.caller.staffID!, body: body)
                }
            },
            .unary("Amend", Haven_V1_AmendConcernRequest.self, Haven_V1_Concern.self, access: .staff) { request, context in
                guard ConcernRules.amendableFields.contains(request.field) else {
                    throw RPCError.invalidArgument("field: \"\(request.field)\" cannot be amended; amendable fields are \(ConcernRules.amendableFields.joined(separator: ", "))")
                }
                guard let reason = request.reason.nonEmpty else { throw RPCError.invalidArgument("reason: say why the record is being corrected") }
                let newValue = try validatedValue(request.field, request.newValue)
                return try await change(request.concernID, context, action: "concern.amend", fields: [request.field], change: "amendment:\(request.field)") { db, current in
                    let old: String = switch request.field {
                    case "category": current.category
                    case "severity": current.severity
                    case "narrative": current.narrative
                    case "location": current.location
                    default: String(current.observedAt.ms)
                    }
                    if old == newValue { throw RPCError.invalidArgument("\(request.field) already has that value") }
                    return ConcernStore.Entry(kind: "amendment", authorID: context.caller.staffID!, body: reason, field: request.field, oldValue: old, newValue: newValue)
                }
            },
            .unary("SetStatus", Haven_V1_SetStatusRequest.self, Haven_V1_Concern.self, access: .staff) { request, context in
                try await change(request.concernID, context, action: "concern.status", fields: ["status"], change: "status:\(request.status)", needsFullAccess: true) { db, current in
                    if let problem = ConcernRules.transitionProblem(from: current.status, to: request.status) {
                        throw RPCError.failedPrecondition(problem)
                    }
                    return ConcernStore.Entry(kind: "status", authorID: context.caller.staffID!, body: request.note, status: request.status)
                }
            },
            .unary("Close", Haven_V1_CloseConcernRequest.self, Haven_V1_Concern.self, access: .staff) { request, context in
                try ConcernRules.requireOneOf("disposition", request.disposition, core.settings.dispositions.map(\.code))
                guard let reason = request.reason.nonEmpty else { throw RPCError.invalidArgument("reason: say why the concern can be closed") }
                return try await change(request.concernID, context, action: "concern.close", fields: ["status", "disposition"], change: "status:closed", needsFullAccess: true) { db, current in
                    if current.status == "closed" { throw RPCError.failedPrecondition("the concern is already closed") }
                    return ConcernStore.Entry(kind: "status", authorID: context.caller.staffID!, body: reason, status: "closed", disposition: request.disposition)
                }
            },
            .unary("Taxonomy", Haven_V1_TaxonomyRequest.self, Haven_V1_TaxonomyResponse.self, access: .staff) { _, _ in
                .with {
                    $0.categories = core.settings.categories.map { c in .with { $0.code = c.code; $0.label = c.label } }
                    $0.severities = ConcernRules.severities
                    $0.statuses = ConcernRules.statuses
                    $0.dispositions = core.settings.dispositions.map { d in .with { $0.code = d.code; $0.label = d.label } }
                }
            },
        ])
    }

    // MARK: Create

    @Sendable func create(_ request: Haven_V1_CreateConcernRequest, _ context: CallContext) async throws -> Haven_V1_CreateConcernResponse {
        let categories = core.settings.categories.map(\.code)
        guard !request.studentIds.isEmpty else { throw RPCError.invalidArgument("student_ids: name at least one student") }
        guard Set(request.studentIds).count == request.studentIds.count else { throw RPCError.invalidArgument("student_ids: a student is listed twice") }
        try ConcernRules.requireOneOf("category", request.category, categories)
        try ConcernRules.requireOneOf("severity", request.severity, ConcernRules.severities)
        guard let narrative = request.narrative.nonEmpty else { throw RPCError.invalidArgument("narrative: say what you saw or heard") }
        guard narrative.count <= ConcernRules.maxNarrative else { throw RPCError.invalidArgument("narrative: at most \(ConcernRules.maxNarrative) characters") }
        let told = request.toldLeadInPerson
        if request.severity == "imminent" {
            guard told == "yes" || told == "no" else {
                throw RPCError.invalidArgument("told_lead_in_person: for an imminent concern, say \"yes\" or \"no\": have you told a designated lead in person?")
            }
        } else if !told.isEmpty, told != "yes", told != "no" {
            throw RPCError.invalidArgument("told_lead_in_person: \"yes\" or \"no\"")
        }
        let now = core.clock.now()
        let observed = request.hasObservedAt ? request.observedAt.date : now
        guard observed <= now.addingTimeInterval(300) else { throw RPCError.invalidArgument("observed_at is in the future") }
        let incident = RecordID.make(at: now)
        let reporter = context.caller.staffID!

        // The messages are built from what was written, after the commit:
        // the writer, which every write in the school queues for, only
        // checks and inserts.
        let (reporterName, concerns) = try await core.perform(context) { db -> (String, [ConcernStore.NewConcern]) in
            // The stored name, as Get and the timeline show it (a caller's
            // display name can differ: "Local administrator (uid N)").
            let reporterName = try db.fetchFirstBound("SELECT display_name FROM staff WHERE id = ?", reporter) { $0.text(0) } ?? ""
            return (reporterName, try request.studentIds.map { studentID in
                guard let student = try core.student(studentID, db: db) else { throw RPCError.notFound("there is no student \(studentID)") }
                if let reason = try core.policy.canReport(context.caller, student: student, db: db) {
                    throw AccessDenied(reason, studentID: student.id)
                }
                let concern = ConcernStore.NewConcern(
                    id: RecordID.make(at: now), incidentID: incident, student: student, reporterID: reporter, category: request.category,
                    severity: request.severity, narrative: narrative, observedAt: StoredTime.ms(observed),
                    location: request.location.trimmed, toldLead: told,
                    createdAt: StoredTime.ms(now), node: core.nodeID)
                try ConcernStore.insert(db, concern)
                try core.publish(NewEvent(
                    type: "concern.created", studentID: student.id, schoolID: student.schoolID, subjectID: concern.id,
                    attributes: ["category": request.category, "severity": request.severity, "grade": student.grade,
                                 "reporter_id": reporter, "incident_id": incident]), db: db)
                try core.audit(AuditRecord(action: "concern.create", studentID: student.id, recordIDs: [concern.id],
                                           fields: ["category", "severity", "narrative", "observed_at", "location"]), context: context, db: db)
                return concern
            })
        }
        // On a desktop linked to a school server, routing happens there, at
        // the next sync: say so, and for imminent risk say to call now.
        // (Only a linked desktop reads its link: the server's hot path does not.)
        let link = core.routesLocally ? nil : try await core.database.pool.read(SyncLink.read)
        return .with {
            $0.concerns = concerns.map { concern in
                var message = ConcernStore.message(concern, reporterName: reporterName)
                message.waitingToSync = link != nil
                return message
            }
            $0.incidentID = incident
            var guidance: [String] = []
            if request.severity == "imminent" {
                guidance.append(ConcernRules.imminentGuidance
                    + (told == "no" ? " You said you have not told a designated lead in person: do it now." : ""))
                if link != nil { guidance.append(ConcernRules.imminentOfflineGuidance) }
            }
            if let link {
                guidance.append("Saved on this desktop. It reaches the school server (\(link.server)) at the next sync, and is routed to the responsible staff only then; `haven sync status` shows what is waiting.")
            }
            $0.guidance = guidance.joined(separator: " ")
        }
    }

    // MARK: Read

    /// The concern row if the caller may read it: their own report, or a
    /// student whose whole case they see.
    private func readable(_ db: Database, _ id: String, _ context: CallContext, needsFullAccess: Bool = false) throws -> (Row, AccessDecision) {
        guard let row = try ConcernStore.row(db, id: id) else { throw RPCError.notFound("there is no concern \(id)") }
        let studentID: String = row["student_id"]
        let decision = try core.access(for: context.caller, studentID: studentID, db: db)
        let ownReport = (row["reporter_id"] as String) == context.caller.staffID
        if decision.isFull || (ownReport && !needsFullAccess && decision.scope == .ownReports) {
            return (row, decision)
        }
        let message = ownReport && needsFullAccess
            ? "you reported this concern; triaging and closing it is for the people responsible for the student's care. \(decision.explanation)"
            : decision.explanation
        throw AccessDenied(message, studentID: studentID, recordIDs: [id])
    }

    @Sendable func list(_ request: Haven_V1_ListConcernsRequest, _ context: CallContext) async throws -> Haven_V1_ListConcernsResponse {
        let limit = request.page.limit <= 0 ? 50 : min(Int(request.page.limit), 500)
        let after: (Int64, String)?
        if let cursor = request.page.cursor.nonEmpty {
            let parts = cursor.split(separator: ":")
            guard parts.count == 2, let ms = Int64(parts[0]) else { throw RPCError.invalidArgument("page.cursor is not a cursor this daemon gave out") }
            after = (ms, String(parts[1]))
        } else {
            after = nil
        }
        for (name, value, allowed) in [("severity", request.severity, ConcernRules.severities), ("status", request.status, ConcernRules.statuses)]
            where !value.isEmpty {
            try ConcernRules.requireOneOf(name, value, allowed)
        }
        let me = context.caller.staffID!
        let now = core.clock.now()
        return try await core.read(context) { db, trail in
            if context.caller.roles.subtracting([.analyst]).isEmpty {
                throw AccessDenied("analysts see aggregate reports only, never an individual concern")
            }
            var visibility = ConcernStore.Visibility(reporterID: me)
            if !request.mine {
                let scopes = Set(context.caller.roles.map { core.settings.scope(of: $0) })
                visibility.district = scopes.contains(.district)
                if scopes.contains(.school) { visibility.schoolIDs = try StaffStore.schools(db, staffID: me) }
                visibility.caseload = scopes.contains(.caseload)
                visibility.studentIDs = try core.policy.grantedStudentIDs(db, staffID: me, at: now)
            }
            let filter = ConcernStore.Filter(
                studentID: try request.studentID.nonEmpty.map { try core.canonicalStudentID($0, db: db) }, schoolID: request.schoolID.nonEmpty, category: request.category.nonEmpty,
                severity: request.severity.nonEmpty, status: request.status.nonEmpty, reporterID: request.reporterID.nonEmpty,
                from: request.hasFrom ? request.from.ms : nil, to: request.hasTo ? request.to.ms : nil, limit: limit, after: after)
            let rows = try ConcernStore.list(db, filter, visibility: visibility)
            let columns = ColumnPositions(rows)
            let concerns = try rows.map { try ConcernStore.message(db, $0, history: false, columns: columns) }
            trail.record(AuditRecord(action: "concern.list", studentID: filter.studentID, recordIDs: concerns.map(\.id),
                                     fields: ["category", "severity", "narrative"]))
            return .with {
                $0.concerns = concerns
                if rows.count == limit, let last = rows.last {
                    $0.nextCursor = "\(last["created_at"] as Int64):\(last["id"] as String)"
                }
            }
        }
    }

    // MARK: Changes

    /// Appends an entry (note, amendment, status) to a concern the caller may
    /// change, publishes concern.updated and audits it, in one transaction.
    private func change(
        _ concernID: String, _ context: CallContext, action: String, fields: [String], change: String, needsFullAccess: Bool = false,
        _ makeEntry: @escaping @Sendable (Database, Haven_V1_Concern) throws -> ConcernStore.Entry
    ) async throws -> Haven_V1_Concern {
        let now = StoredTime.ms(core.clock.now())
        return try await core.perform(context) { db in
            let (row, _) = try readable(db, concernID, context, needsFullAccess: needsFullAccess)
            let current = try ConcernStore.message(db, row, history: false)
            let entry = try makeEntry(db, current)
            let entryID = try ConcernStore.addEntry(db, concernID: concernID, entry, at: now, node: core.nodeID)
            var attributes = ["change": change, "entry_id": entryID]
            if entry.field == "category" || entry.field == "severity" { attributes["new_value"] = entry.newValue }
            if entry.kind == "status" {
                attributes["status"] = entry.status
                if !entry.disposition.isEmpty { attributes["disposition"] = entry.disposition }
            }
            attributes["category"] = entry.field == "category" ? entry.newValue : current.category
            attributes["severity"] = entry.field == "severity" ? entry.newValue : current.severity
            try core.publish(NewEvent(type: "concern.updated", studentID: current.studentID, schoolID: current.schoolID,
                                      subjectID: concernID, attributes: attributes), db: db)
            try core.audit(AuditRecord(action: action, studentID: current.studentID, recordIDs: [concernID, entryID], fields: fields),
                           context: context, db: db)
            return try ConcernStore.message(db, ConcernStore.row(db, id: concernID)!, history: true)
        }
    }

    private func validatedValue(_ field: String, _ value: String) throws -> String {
        switch field {
        case "category":
            let codes = core.settings.categories.map(\.code)
            guard codes.contains(value) else { throw RPCError.invalidArgument("new_value: \"\(value)\" is not a category (\(codes.joined(separator: ", ")))") }
        case "severity":
            guard ConcernRules.severities.contains(value) else { throw RPCError.invalidArgument("new_value: \"\(value)\" is not a severity") }
        case "narrative":
            guard let text = value.nonEmpty, text.count <= ConcernRules.maxNarrative else { throw RPCError.invalidArgument("new_value: the narrative is empty or too long") }
            return text
        case "observed_at":
            // With or without milliseconds: history shows a stored time with them.
            guard let ms = RFC3339.parseMilliseconds(value) else {
                throw RPCError.invalidArgument("new_value: observed_at takes an RFC 3339 time such as 2026-11-30T14:40:00Z")
            }
            return String(ms)
        default:
            break
        }
        return value
    }
}
