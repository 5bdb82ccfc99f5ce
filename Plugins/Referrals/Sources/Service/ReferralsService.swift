import Foundation
import GRDB
import HavenJSON
import HavenPluginAPI
import HavenReferralsProto
import HavenStorage
import HavenWire

/// haven.referrals.v1.Referrals.
struct ReferralsService {
    static let name = "haven.referrals.v1.Referrals"
    static let dispositions = ["resolved", "referred_external", "monitoring", "no_action_needed", "transferred"]
    static let externalStatuses = ["sent", "accepted", "declined", "first_appointment", "completed", "unable_to_reach"]

    let engine: ReferralEngine
    var core: any CoreServices { engine.core }

    typealias Referral = Haven_Referrals_V1_Referral

    var definition: ServiceDefinition {
        ServiceDefinition(name: Self.name, methods: [
            .unary("List", Haven_Referrals_V1_ListReferralsRequest.self, Haven_Referrals_V1_ListReferralsResponse.self, access: .staff, list),
            .unary("Get", Haven_Referrals_V1_GetReferralRequest.self, Referral.self, access: .staff) { request, context in
                try await core.read(context) { db, trail in
                    let row = try visible(db, request.referralID, context)
                    trail.record(AuditRecord(action: "referral.read", studentID: row["student_id"], recordIDs: [request.referralID]))
                    return try ReferralMessages.referral(db, request.referralID, core: core, history: true)!
                }
            },
            .unary("Acknowledge", Haven_Referrals_V1_ReferralActionRequest.self, Referral.self, access: .staff) { request, context in
                try await act(request.referralID, context, action: "referral.acknowledge") { db, row, me, ms in
                    guard (row["status"] as String) == "open" else {
                        throw RPCError.failedPrecondition("the referral is \(row["status"] as String); only an open referral is acknowledged")
                    }
                    try requireRecipient(db, row, me)
                    try ReferralStore.action(db, referralID: row["id"], kind: "acknowledged", actor: me, at: ms, note: request.note, node: core.nodeID)
                    try ReferralSync.rederive(db, referralID: row["id"])
                    return "referral.acknowledged"
                }
            },
            .unary("Start", Haven_Referrals_V1_ReferralActionRequest.self, Referral.self, access: .staff) { request, context in
                try await act(request.referralID, context, action: "referral.start") { db, row, me, ms in
                    let status: String = row["status"]
                    guard status == "open" || status == "acknowledged" else {
                        throw RPCError.failedPrecondition("the referral is \(status); work starts on an open or acknowledged referral")
                    }
                    try requireRecipient(db, row, me)
                    try ReferralStore.action(db, referralID: row["id"], kind: "started", actor: me, at: ms, note: request.note, node: core.nodeID)
                    try ReferralSync.rederive(db, referralID: row["id"])
                    return "referral.started"
                }
            },
            .unary("Decline", Haven_Referrals_V1_ReferralActionRequest.self, Referral.self, access: .staff) { request, context in
                guard !request.note.trimmingCharacters(in: .whitespaces).isEmpty else { throw RPCError.invalidArgument("note: say why you decline it") }
                let now = core.clock.now()
                return try await act(request.referralID, context, action: "referral.decline") { db, row, me, ms in
                    guard (row["status"] as String) != "closed" else { throw RPCError.failedPrecondition("the referral is closed") }
                    try requireRecipient(db, row, me)
                    try ReferralStore.action(db, referralID: row["id"], kind: "declined", actor: me, at: ms, note: request.note, node: core.nodeID)
                    try ReferralSync.rederive(db, referralID: row["id"])
                    // Reroute to the next step of the ladder now.
                    if let step = try Int.fetchOne(db.cachedStatement(sql: "SELECT min(step) FROM referrals_steps WHERE referral_id = ? AND fired_at IS NULL"), arguments: [row["id"] as String]) {
                        _ = try engine.escalate(db, referralID: row["id"], step: step, now: now, why: "declined by a recipient")
                    } else {
                        guard let student = try core.student(row["student_id"], db: db) else { return "referral.declined" }
                        for admin in try core.staff(withAnyRole: [.administrator], schoolID: student.schoolID, db: db) where admin.id != me {
                            try ReferralStore.addRecipient(db, referralID: row["id"], staffID: admin.id, level: 99, addedBy: "decline", at: ms, reason: "declined; ladder exhausted")
                            try core.notify(staffID: admin.id, kind: "referral.declined", message: "Referral \(row["id"] as String) was declined and has no one left on its ladder.",
                                            studentID: student.id, subjectID: row["id"], db: db)
                        }
                    }
                    return "referral.declined"
                }
            },
            .unary("Assign", Haven_Referrals_V1_AssignReferralRequest.self, Referral.self, access: .staff) { request, context in
                guard !request.reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw RPCError.invalidArgument("reason: say why it is reassigned") }
                return try await act(request.referralID, context, action: "referral.assign") { db, row, me, ms in
                    guard (row["status"] as String) != "closed" else { throw RPCError.failedPrecondition("the referral is closed") }
                    if !context.caller.hasAny([.admin, .administrator]) { try requireRecipient(db, row, me) }
                    guard let staff = try core.staffMember(request.staffID, db: db), staff.active else {
                        throw RPCError.notFound("there is no active staff member \(request.staffID)")
                    }
                    let lawEnforcement = staff.roles.contains(.sro)
                    try ReferralStore.addRecipient(db, referralID: row["id"], staffID: staff.id, level: 0, addedBy: me, at: ms, reason: request.reason)
                    try ReferralStore.action(db, referralID: row["id"], kind: "assigned", actor: me, at: ms,
                                             note: (lawEnforcement ? "law enforcement involved (a human decision): " : "") + request.reason,
                                             to: staff.id, node: core.nodeID)
                    try ReferralSync.rederive(db, referralID: row["id"])
                    try core.notify(staffID: staff.id, kind: "referral.assigned", message: "Referral \(row["id"] as String) for student \(row["student_id"] as String) was assigned to you.",
                                    studentID: row["student_id"], subjectID: row["id"], db: db)
                    return lawEnforcement ? "referral.assigned.law_enforcement" : "referral.assigned"
                }
            },
            .unary("Close", Haven_Referrals_V1_CloseReferralRequest.self, Referral.self, access: .staff) { request, context in
                guard Self.dispositions.contains(request.disposition) else {
                    throw RPCError.invalidArgument("disposition: \"\(request.disposition)\" is not one of \(Self.dispositions.joined(separator: ", "))")
                }
                guard !request.note.trimmingCharacters(in: .whitespaces).isEmpty else { throw RPCError.invalidArgument("note: closing needs a note") }
                return try await act(request.referralID, context, action: "referral.close") { db, row, me, ms in
                    let status: String = row["status"]
                    guard status == "acknowledged" || status == "in_progress" else {
                        throw RPCError.failedPrecondition(status == "closed" ? "the referral is already closed" : "acknowledge the referral before closing it")
                    }
                    try requireRecipient(db, row, me)
                    try ReferralStore.action(db, referralID: row["id"], kind: "closed", actor: me, at: ms, note: request.note, disposition: request.disposition, node: core.nodeID)
                    try ReferralSync.rederive(db, referralID: row["id"])
                    return "referral.closed"
                }
            },
            .unary("AddNote", Haven_Referrals_V1_ReferralActionRequest.self, Referral.self, access: .staff) { request, context in
                guard !request.note.trimmingCharacters(in: .whitespaces).isEmpty else { throw RPCError.invalidArgument("note: the note is empty") }
                return try await act(request.referralID, context, action: "referral.note", publish: false) { db, row, me, ms in
                    try requireRecipient(db, row, me)
                    try ReferralStore.action(db, referralID: row["id"], kind: "note", actor: me, at: ms, note: request.note, node: core.nodeID)
                    return "referral.note"
                }
            },
            .unary("AddExternal", Haven_Referrals_V1_AddExternalRequest.self, Referral.self, access: .staff) { request, context in
                guard !request.provider.trimmingCharacters(in: .whitespaces).isEmpty else { throw RPCError.invalidArgument("provider: name the community provider") }
                let sentOn = request.sentOn.isEmpty ? String(ISO8601DateFormatter().string(from: core.clock.now()).prefix(10)) : request.sentOn
                guard sentOn.count == 10, ISO8601DateFormatter().date(from: sentOn + "T00:00:00Z") != nil else { throw RPCError.invalidArgument("sent_on: a date as YYYY-MM-DD") }
                return try await act(request.referralID, context, action: "referral.external") { db, row, me, ms in
                    try requireRecipient(db, row, me)
                    let id = RecordID.make()
                    try db.executeCached("INSERT INTO referrals_external (id, referral_id, provider, sent_on, created_at, origin_node) VALUES (?, ?, ?, ?, ?, ?)", [id, row["id"] as String, request.provider, sentOn, ms, core.nodeID])
                    try db.executeCached("INSERT INTO referrals_external_updates (external_id, at, status, note, actor_id) VALUES (?, ?, 'sent', ?, ?)", [id, ms, request.note, me])
                    try ReferralStore.action(db, referralID: row["id"], kind: "external", actor: me, at: ms, note: "referred to \(request.provider) on \(sentOn)", node: core.nodeID)
                    return "referral.external"
                }
            },
            .unary("UpdateExternal", Haven_Referrals_V1_UpdateExternalRequest.self, Referral.self, access: .staff) { request, context in
                guard Self.externalStatuses.contains(request.status) else {
                    throw RPCError.invalidArgument("status: \"\(request.status)\" is not one of \(Self.externalStatuses.joined(separator: ", "))")
                }
                return try await act(request.referralID, context, action: "referral.external", publish: false) { db, row, me, ms in
                    try requireRecipient(db, row, me)
                    guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM referrals_external WHERE id = ? AND referral_id = ?)"), arguments: [request.externalID, row["id"] as String]) == true else {
                        throw RPCError.notFound("referral \(row["id"] as String) has no external referral \(request.externalID)")
                    }
                    try db.executeCached("INSERT INTO referrals_external_updates (external_id, at, status, note, actor_id) VALUES (?, ?, ?, ?, ?)", [request.externalID, ms, request.status, request.note, me])
                    return "referral.external"
                }
            },
            .unary("ExplainRouting", Haven_Referrals_V1_ExplainRoutingRequest.self, Haven_Referrals_V1_ExplainRoutingResponse.self,
                   access: .roles([.admin, .administrator, .counselor, .socialWorker, .psychologist, .nurse]), explain),
            .unary("ReloadRules", Haven_Referrals_V1_ReloadRulesRequest.self, Haven_Referrals_V1_ReloadRulesResponse.self, access: .roles([.admin])) { _, context in
                let outcome: Result<RoutingRules, RuleLoadFailure>
                do { outcome = .success(try engine.reload()) } catch let error as RuleLoadFailure { outcome = .failure(error) }
                switch outcome {
                case .success(let rules):
                    try await core.perform(context) { db in
                        try core.audit(AuditRecord(action: "routing.reload", purpose: "\(rules.rules.count) rules from \(rules.source)"), context: context, db: db)
                    }
                    return .with { $0.reloaded = true; $0.rules = Int32(rules.rules.count); $0.source = rules.source }
                case .failure(let error):
                    return .with { r in
                        r.reloaded = false
                        r.source = error.source
                        r.rules = Int32(engine.currentRules.rules.count)
                        r.problems = error.problems.map { p in .with { $0.rule = p.rule; $0.key = p.key; $0.line = Int64(p.line ?? 0); $0.message = p.message } }
                    }
                }
            },
            .unary("ListRules", Haven_Referrals_V1_ListRulesRequest.self, Haven_Referrals_V1_ListRulesResponse.self, access: .staff) { _, _ in
                let rules = engine.currentRules
                return .with { r in
                    r.source = rules.source
                    r.rules = rules.rules.map { rule in .with { $0.name = rule.name; $0.description_p = rule.description; $0.text = rule.summary } }
                }
            },
            .unary("SetDuty", Haven_Referrals_V1_SetDutyRequest.self, Haven_Referrals_V1_DutyEntry.self, access: .roles([.admin, .administrator]), setDuty),
            .unary("ClearDuty", Haven_Referrals_V1_ClearDutyRequest.self, Haven_Referrals_V1_ClearDutyResponse.self, access: .roles([.admin, .administrator])) { request, context in
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    let cleared = try DutyRota.clear(db, id: request.entryID, at: now)
                    try core.audit(AuditRecord(action: "duty.clear", recordIDs: [request.entryID]), context: context, db: db)
                    return .with { $0.cleared = cleared }
                }
            },
            .unary("ShowDuty", Haven_Referrals_V1_ShowDutyRequest.self, Haven_Referrals_V1_ShowDutyResponse.self, access: .staff) { request, context in
                let at = request.hasAt ? request.at.date : core.clock.now()
                return try await core.perform(context) { db in
                    let entries = try DutyRota.entries(db, schoolID: request.schoolID)
                    var now: [String] = []
                    for duty in DutyRota.duties {
                        let (staff, fallback) = try DutyRota.onDuty(db, schoolID: request.schoolID, duty: duty, at: at, timeZone: engine.settings.timeZone)
                        let names = try staff.compactMap { try core.staffMember($0, db: db)?.displayName }
                        now.append("\(duty): " + (names.isEmpty ? "nobody (no fallback)" : names.joined(separator: ", ") + (fallback ? " (fallback)" : "")))
                    }
                    let messages = try entries.map { try entryMessage(db, $0) }
                    return .with { r in
                        r.entries = messages
                        r.onDutyNow = now
                    }
                }
            },
        ])
    }

    // MARK: Helpers

    /// The referral, if the caller is on it or sees the student's case.
    private func visible(_ db: Database, _ id: String, _ context: CallContext) throws -> Row {
        guard let row = try ReferralStore.row(db, id: id) else { throw RPCError.notFound("there is no referral \(id)") }
        let me = context.caller.staffID!
        if try isRecipient(db, row, me) { return row }
        _ = try core.requireAccess(context.caller, studentID: row["student_id"], db: db)
        return row
    }

    private func isRecipient(_ db: Database, _ row: Row, _ me: String) throws -> Bool {
        if (row["owner_id"] as String) == me { return true }
        return try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM referrals_recipients WHERE referral_id = ? AND staff_id = ?)"),
                                 arguments: [row["id"] as String, me]) ?? false
    }

    private func requireRecipient(_ db: Database, _ row: Row, _ me: String) throws {
        guard try isRecipient(db, row, me) else {
            throw AccessDenied("only the referral's recipients and owner act on it; ask its owner to assign it to you", studentID: row["student_id"], recordIDs: [row["id"]])
        }
    }

    /// Runs a lifecycle action in one transaction: the change, its event and its audit entry.
    private func act(
        _ id: String, _ context: CallContext, action: String, publish: Bool = true,
        _ body: @escaping @Sendable (Database, Row, String, Int64) throws -> String
    ) async throws -> Referral {
        let ms = StoredTime.ms(core.clock.now())
        return try await core.perform(context) { db in
            guard let row = try ReferralStore.row(db, id: id) else { throw RPCError.notFound("there is no referral \(id)") }
            let me = context.caller.staffID!
            let eventType = try body(db, row, me, ms)
            if publish {
                try core.publish(NewEvent(type: eventType.replacingOccurrences(of: ".law_enforcement", with: ""), studentID: row["student_id"], schoolID: row["school_id"],
                                          subjectID: id, attributes: ["priority": row["priority"], "actor_id": me]), db: db)
            }
            try core.audit(AuditRecord(action: eventType == "referral.assigned.law_enforcement" ? eventType : action, studentID: row["student_id"], recordIDs: [id]),
                           context: context, db: db)
            return try ReferralMessages.referral(db, id, core: core, history: true)!
        }
    }

    @Sendable func list(_ request: Haven_Referrals_V1_ListReferralsRequest, _ context: CallContext) async throws -> Haven_Referrals_V1_ListReferralsResponse {
        let now = StoredTime.ms(core.clock.now())
        return try await core.read(context) { db, trail in
            let me = context.caller.staffID!
            var clauses: [String] = []
            var arguments: StatementArguments = []
            switch request.status {
            case "", "active": clauses.append("c.status != 'closed'")
            case "all": break
            case "open", "acknowledged", "in_progress", "closed":
                clauses.append("c.status = ?")
                arguments += [request.status]
            default: throw RPCError.invalidArgument("status: open, acknowledged, in_progress, closed, active or all")
            }
            if request.overdue {
                clauses.append("c.status = 'open' AND r.acknowledge_by <= ?")
                arguments += [now]
            }
            if !request.priority.isEmpty {
                clauses.append("r.priority = ?")
                arguments += [request.priority]
            }
            if !request.studentID.isEmpty, let student = try core.student(request.studentID, db: db) {
                clauses.append("r.student_id = ?")
                arguments += [student.id]
            }
            if request.mine {
                clauses.append("(c.owner_id = ? OR r.id IN (SELECT referral_id FROM referrals_recipients WHERE staff_id = ?))")
                arguments += [me, me]
            }
            let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            let rows = try Row.fetchAll(db, sql: """
                SELECT r.id, r.student_id, c.owner_id FROM referrals r JOIN referrals_current c ON c.referral_id = r.id \(whereClause)
                ORDER BY CASE r.priority WHEN 'emergency' THEN 0 WHEN 'urgent' THEN 1 WHEN 'soon' THEN 2 ELSE 3 END, r.created_at DESC LIMIT 500
                """, arguments: arguments)
            var ids: [String] = []
            for row in rows {
                let id: String = row["id"]
                let isRecipient = try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM referrals_recipients WHERE referral_id = ? AND staff_id = ?)"), arguments: [id, me]) ?? false
                let onIt = (row["owner_id"] as String) == me || isRecipient
                let sees = onIt ? true : try core.access(for: context.caller, studentID: row["student_id"], db: db).isFull
                if sees { ids.append(id) }
            }
            trail.record(AuditRecord(action: "referral.list", recordIDs: ids))
            return .with { $0.referrals = ids.compactMap { try? ReferralMessages.referral(db, $0, core: core, history: false) } }
        }
    }

    @Sendable func explain(_ request: Haven_Referrals_V1_ExplainRoutingRequest, _ context: CallContext) async throws -> Haven_Referrals_V1_ExplainRoutingResponse {
        let value: JSONValue
        do { value = try JSONParser.parse(request.eventJson) } catch { throw RPCError.invalidArgument("event_json is not JSON: \(error)") }
        guard let type = value["type"]?.stringValue else { throw RPCError.invalidArgument("event_json: \"type\" is required, e.g. \"screening.completed\"") }
        var attributes: [String: String] = [:]
        for (key, v) in value["attributes"]?.objectValue ?? [] {
            attributes[key] = v.stringValue ?? (v.arrayValue?.compactMap(\.stringValue).joined(separator: ",")) ?? JSONWriter.write(v, pretty: false)
        }
        let now = core.clock.now()
        let event = DomainEvent(sequence: 0, id: "explain", type: type, occurredAt: now, studentID: value["student_id"]?.stringValue,
                                schoolID: value["school_id"]?.stringValue, subjectID: nil, originNode: core.nodeID, attributes: attributes)
        let rules = engine.currentRules.rules
        return try await core.perform(context) { db in
            var student: StudentRecord?
            if let id = event.studentID { student = try core.student(id, db: db) }
            var event = event
            if event.schoolID == nil { event.schoolID = student?.schoolID }
            if event.attributes["grade"] == nil, let grade = student?.grade { event.attributes["grade"] = grade }
            var matches: [Haven_Referrals_V1_RuleMatch] = []
            var stopped = false
            var wouldCreate = 0
            for rule in rules {
                let (matched, reasons) = rule.match(event)
                var m = Haven_Referrals_V1_RuleMatch.with {
                    $0.rule = rule.name
                    $0.matched = matched && !stopped
                    $0.reasons = stopped && matched ? ["matches, but an earlier rule with stop = true already applied"] : reasons
                    $0.priority = rule.priority.rawValue
                    $0.targets = rule.targets.map(\.description)
                    $0.acknowledgeWithin = Durations.format(rule.acknowledgeWithin)
                    $0.escalation = rule.escalation.map { "after \(Durations.format($0.after)): \($0.targets.map(\.description).joined(separator: ", "))" }
                    $0.stops = rule.stop
                }
                if matched && !stopped {
                    wouldCreate += 1
                    if let student {
                        for target in rule.targets {
                            let (ids, notes) = try engine.resolve(db, [target], student: student, at: now)
                            let names = try ids.compactMap { try core.staffMember($0, db: db)?.displayName }
                            m.resolved.append("\(target) -> \(names.isEmpty ? "nobody" : names.joined(separator: ", "))")
                            m.resolved += notes
                        }
                    }
                    if rule.stop { stopped = true }
                }
                matches.append(m)
            }
            try core.audit(AuditRecord(action: "routing.explain", studentID: student?.id, purpose: type), context: context, db: db)
            return .with {
                $0.rules = matches
                $0.referralsThatWouldBeCreated = Int32(wouldCreate)
            }
        }
    }

    @Sendable func setDuty(_ request: Haven_Referrals_V1_SetDutyRequest, _ context: CallContext) async throws -> Haven_Referrals_V1_DutyEntry {
        guard DutyRota.duties.contains(request.duty) else {
            throw RPCError.invalidArgument("duty: \"\(request.duty)\" is not one of \(DutyRota.duties.joined(separator: ", "))")
        }
        let days: [Int] = try request.days.map { day in
            guard let index = DutyRota.days.firstIndex(of: day.lowercased().prefix(3).description) else {
                throw RPCError.invalidArgument("days: \"\(day)\" is not a day (mon, tue, wed, thu, fri, sat, sun)")
            }
            return index
        }
        let from = request.from.isEmpty ? nil : DutyRota.parseTime(request.from)
        let to = request.to.isEmpty ? nil : DutyRota.parseTime(request.to)
        if !request.from.isEmpty, from == nil { throw RPCError.invalidArgument("from: a time as HH:MM") }
        if !request.to.isEmpty, to == nil { throw RPCError.invalidArgument("to: a time as HH:MM") }
        if (from == nil) != (to == nil) { throw RPCError.invalidArgument("give both from and to, or neither (all day)") }
        let now = StoredTime.ms(core.clock.now())
        return try await core.perform(context) { db in
            guard let staff = try core.staffMember(request.staffID, db: db), staff.active else { throw RPCError.notFound("there is no active staff member \(request.staffID)") }
            guard !staff.roles.contains(.sro) else { throw RPCError.failedPrecondition("a school resource officer cannot be on a wellbeing duty rota") }
            if !context.caller.has(.admin), let me = try core.staffMember(context.caller.staffID!, db: db), !me.schoolIDs.contains(request.schoolID) {
                throw AccessDenied("administrators set the duty rota of their own schools")
            }
            let entry = DutyRota.Entry(id: RecordID.make(), schoolID: request.schoolID, duty: request.duty, staffID: staff.id, days: days, from: from, to: to, fallback: request.fallback)
            try DutyRota.insert(db, entry, by: context.caller.staffID!, at: now, node: core.nodeID)
            try core.audit(AuditRecord(action: "duty.set", recordIDs: [entry.id, staff.id], purpose: request.duty), context: context, db: db)
            return try entryMessage(db, entry)
        }
    }

    private func entryMessage(_ db: Database, _ e: DutyRota.Entry) throws -> Haven_Referrals_V1_DutyEntry {
        .with {
            $0.id = e.id
            $0.schoolID = e.schoolID
            $0.duty = e.duty
            $0.staffID = e.staffID
            $0.staffName = (try? core.staffMember(e.staffID, db: db)?.displayName) ?? e.staffID
            $0.days = e.days.map { DutyRota.days[$0] }
            $0.from = DutyRota.formatTime(e.from)
            $0.to = DutyRota.formatTime(e.to)
            $0.fallback = e.fallback
        }
    }
}
