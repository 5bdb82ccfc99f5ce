import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire
import HavenTime

/// haven.v1.Access: grants, emergency access, the matrix, and explanations.
struct AccessService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Access", methods: [
            .unary("CreateGrant", Haven_V1_CreateGrantRequest.self, Haven_V1_Grant.self, access: .roles(AccessPolicy.grantors), createGrant),
            .unary("RevokeGrant", Haven_V1_RevokeGrantRequest.self, Haven_V1_Grant.self, access: .roles(AccessPolicy.grantors)) { request, context in
                guard let reason = request.reason.nonEmpty else { throw RPCError.invalidArgument("reason: say why the grant ends") }
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    guard let grant = try AccessStore.grant(db, id: request.grantID) else { throw RPCError.notFound("there is no grant \(request.grantID)") }
                    if grant.hasRevokedAt { throw RPCError.failedPrecondition("the grant was already revoked") }
                    if !context.caller.has(.admin), grant.grantedBy != context.caller.staffID {
                        _ = try core.requireAccess(context.caller, studentID: grant.studentID, db: db)
                    }
                    try db.executeCached("INSERT INTO grant_revocations (grant_id, revoked_by, revoked_at, reason, origin_node) VALUES (?, ?, ?, ?, ?)", [grant.id, context.caller.staffID!, now, reason, core.nodeID])
                    try core.publish(NewEvent(type: "grant.revoked", studentID: grant.studentID, subjectID: grant.id,
                                              attributes: ["grantee_id": grant.granteeID]), db: db)
                    try core.audit(AuditRecord(action: "grant.revoke", studentID: grant.studentID, recordIDs: [grant.id, grant.granteeID]),
                                   context: context, db: db)
                    return try AccessStore.grant(db, id: grant.id)!
                }
            },
            .unary("ListGrants", Haven_V1_ListGrantsRequest.self, Haven_V1_ListGrantsResponse.self, access: .staff) { request, context in
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    let me = context.caller.staffID!
                    let student = try request.studentID.nonEmpty.map { try core.canonicalStudentID($0, db: db) }
                    var grantee = request.granteeID.nonEmpty
                    if let student, !context.caller.has(.admin) {
                        _ = try core.requireAccess(context.caller, studentID: student, db: db)
                    } else if student == nil, !context.caller.has(.admin) {
                        if let g = grantee, g != me { throw AccessDenied("you can list grants of students you can see, or your own") }
                        grantee = me
                    }
                    let ids = try AccessStore.grantIDs(db, studentID: student, granteeID: grantee, includeEnded: request.includeEnded, now: now)
                    try core.audit(AuditRecord(action: "grant.list", studentID: student, recordIDs: ids), context: context, db: db)
                    return .with { $0.grants = ids.compactMap { try? AccessStore.grant(db, id: $0) } }
                }
            },
            .unary("OpenEmergencyAccess", Haven_V1_EmergencyAccessRequest.self, Haven_V1_EmergencyAccess.self, access: .staff, openEmergency),
            .unary("Matrix", Haven_V1_MatrixRequest.self, Haven_V1_MatrixResponse.self, access: .staff) { _, _ in
                .with {
                    $0.rows = PermissionMatrix.rows(core.settings).map { row in
                        .with { $0.role = row.role.rawValue; $0.sees = row.sees; $0.may = row.may }
                    }
                    $0.text = PermissionMatrix.text(core.settings)
                }
            },
            .unary("Explain", Haven_V1_ExplainRequest.self, Haven_V1_ExplainResponse.self, access: .staff) { request, context in
                try await core.perform(context) { db in
                    var subject = context.caller
                    if let other = request.staffID.nonEmpty, other != context.caller.staffID {
                        guard context.caller.has(.admin) else { throw AccessDenied("only an admin may ask about someone else's access") }
                        guard let staff = try StaffStore.record(db, id: other) else { throw RPCError.notFound("there is no staff member \(other)") }
                        subject = Caller(peer: nil, authMethod: .none, staffID: staff.active ? staff.id : nil, displayName: staff.displayName, roles: staff.roles)
                    }
                    guard try StudentStore.student(db, id: request.studentID) != nil else { throw RPCError.notFound("there is no student \(request.studentID)") }
                    let decision = try core.access(for: subject, studentID: request.studentID, db: db)
                    try core.audit(AuditRecord(action: "access.explain", studentID: request.studentID, recordIDs: [subject.staffID ?? ""]), context: context, db: db)
                    return .with {
                        $0.allowed = decision.isFull
                        $0.basis = .with { $0.kind = decision.basis; $0.detail = decision.detail }
                        $0.explanation = decision.explanation
                    }
                }
            },
        ])
    }

    @Sendable func createGrant(_ request: Haven_V1_CreateGrantRequest, _ context: CallContext) async throws -> Haven_V1_Grant {
        guard let purpose = request.purpose.nonEmpty else { throw RPCError.invalidArgument("purpose: say what the grant is for") }
        guard request.hasExpiresAt else { throw RPCError.invalidArgument("expires_at: a grant needs an expiry") }
        let now = core.clock.now()
        let expires = request.expiresAt.date
        guard expires > now else { throw RPCError.invalidArgument("expires_at is in the past") }
        let maxDays = core.settings.maxGrantDays
        guard expires <= now.addingTimeInterval(Double(maxDays) * 86_400) else {
            throw RPCError.invalidArgument("expires_at: grants last at most \(maxDays) days ([access] max_grant_days)")
        }
        let id = RecordID.make(at: now)
        return try await core.perform(context) { db in
            guard let student = try core.student(request.studentID, db: db) else { throw RPCError.notFound("there is no student \(request.studentID)") }
            if !context.caller.has(.admin) {
                let decision = try core.requireAccess(context.caller, studentID: student.id, db: db)
                guard ["caseload", "school", "district"].contains(decision.basis) else {
                    throw AccessDenied("you see this case through a \(decision.basis), which does not let you grant it to others", studentID: student.id)
                }
            }
            guard let grantee = try StaffStore.record(db, id: request.granteeID), grantee.active else {
                throw RPCError.notFound("there is no active staff member \(request.granteeID)")
            }
            if grantee.roles.subtracting([.analyst]).isEmpty {
                throw RPCError.failedPrecondition("\(grantee.displayName) is an analyst; analysts see aggregate reports only, so a grant would open nothing")
            }
            let lawEnforcement = grantee.roles.contains(.sro)
            let leReason = request.lawEnforcementReason.trimmed
            if lawEnforcement, leReason.isEmpty {
                throw RPCError.invalidArgument(
                    "law_enforcement_reason: \(grantee.displayName) is a school resource officer; sharing a case with law enforcement is a disclosure that needs a recorded reason")
            }
            try db.executeCached("""
                INSERT INTO grants (id, student_id, grantee_id, granted_by, purpose, law_enforcement_reason, created_at, expires_at, origin_node)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [id, student.id, grantee.id, context.caller.staffID!, purpose, leReason, StoredTime.ms(now), StoredTime.ms(expires), core.nodeID])
            try core.publish(NewEvent(type: "grant.created", studentID: student.id, schoolID: student.schoolID, subjectID: id,
                                      attributes: ["grantee_id": grantee.id, "law_enforcement": lawEnforcement ? "true" : "false"]), db: db)
            try core.audit(AuditRecord(action: lawEnforcement ? "grant.create.law_enforcement" : "grant.create", studentID: student.id,
                                       recordIDs: [id, grantee.id], fields: ["purpose"]), context: context, db: db)
            try core.notify(staffID: grantee.id, kind: "grant.created",
                            message: "You were granted access to student \(student.id) until \(RFC3339.wholeSeconds(expires)).",
                            studentID: student.id, subjectID: id, db: db)
            return try AccessStore.grant(db, id: id)!
        }
    }

    @Sendable func openEmergency(_ request: Haven_V1_EmergencyAccessRequest, _ context: CallContext) async throws -> Haven_V1_EmergencyAccess {
        guard let reason = request.reason.nonEmpty, reason.count >= 10 else {
            throw RPCError.invalidArgument("reason: write why a child is at risk and you need this record now (at least 10 characters)")
        }
        let now = core.clock.now()
        let expires = now.addingTimeInterval(Double(core.settings.emergencyAccessMinutes) * 60)
        let id = RecordID.make(at: now)
        return try await core.perform(context) { db in
            if context.caller.roles.subtracting([.analyst, .integration]).isEmpty {
                throw AccessDenied("emergency access is for staff who care for students; analysts and tools cannot open it")
            }
            guard let student = try core.student(request.studentID, db: db) else { throw RPCError.notFound("there is no student \(request.studentID)") }
            let me = context.caller.staffID!
            try db.executeCached("""
                INSERT INTO emergency_access (id, student_id, staff_id, reason, created_at, expires_at, origin_node) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [id, student.id, me, reason, StoredTime.ms(now), StoredTime.ms(expires), core.nodeID])
            try core.publish(NewEvent(type: "access.emergency", studentID: student.id, schoolID: student.schoolID, subjectID: id,
                                      attributes: ["staff_id": me]), db: db)
            try core.audit(AuditRecord(action: "access.emergency", studentID: student.id, recordIDs: [id], fields: ["reason"],
                                       purpose: "health_or_safety_emergency"), context: context, db: db)
            // Administrators are told, at the student's school (or every admin if it has none).
            var recipients = try core.staff(withAnyRole: [.administrator], schoolID: student.schoolID, db: db)
            if recipients.isEmpty { recipients = try core.staff(withAnyRole: [.admin], schoolID: nil, db: db) }
            for recipient in recipients where recipient.id != me {
                try core.notify(staffID: recipient.id, kind: "access.emergency",
                                message: "Emergency access \(id) to student \(student.id) was opened by staff \(me) until \(RFC3339.wholeSeconds(expires)); review the reason.",
                                studentID: student.id, subjectID: id, db: db)
            }
            return try AccessStore.emergency(db, id: id)!
        }
    }
}
