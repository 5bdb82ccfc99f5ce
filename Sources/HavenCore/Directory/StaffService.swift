import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

/// haven.v1.Staff: accounts, roles, schools, linked uids and caseloads.
struct StaffService {
    let core: CoreModule

    static let caseloadRoles: Set<Role> = [.counselor, .socialWorker, .psychologist, .nurse]

    var definition: ServiceDefinition {
        let admin = MethodAccess.roles([.admin])
        return ServiceDefinition(name: "haven.v1.Staff", methods: [
            .unary("Add", Haven_V1_AddStaffRequest.self, Haven_V1_AddStaffResponse.self, access: admin) { request, context in
                guard let name = request.displayName.nonEmpty else { throw RPCError.invalidArgument("display_name: give the staff member's name") }
                let roles = try Self.parseRoles(request.roles)
                let id = RecordID.make(at: core.clock.now())
                let now = StoredTime.ms(core.clock.now())
                return try await core.perform(context) { db in
                    try Self.checkSchools(db, request.schoolIds)
                    try StaffStore.insert(db, id: id, sourceID: nil, displayName: name, email: request.email, node: core.nodeID, now: now)
                    try StaffStore.setRoles(db, staffID: id, roles: roles)
                    try StaffStore.setSchools(db, staffID: id, schoolIDs: request.schoolIds)
                    if request.link {
                        if let other = try StaffStore.staffID(forUID: request.linkUid, db) {
                            throw RPCError.alreadyExists("uid \(request.linkUid) is already linked to \(try StaffStore.displayName(db, id: other)); unlink it first")
                        }
                        try StaffStore.link(db, uid: request.linkUid, staffID: id)
                    }
                    try core.audit(AuditRecord(action: "staff.create", recordIDs: [id], fields: ["display_name", "email", "roles", "schools"]), context: context, db: db)
                    return .with { $0.staff = try! StaffStore.message(db, id: id)! }
                }
            },
            .unary("List", Haven_V1_ListStaffRequest.self, Haven_V1_ListStaffResponse.self, access: .staff) { request, context in
                let role = try request.role.nonEmpty.map { try Self.parseRole($0) }
                return try await core.perform(context) { db in
                    let ids = try StaffStore.list(db, role: role, schoolID: request.schoolID.nonEmpty, includeInactive: request.includeInactive)
                    try core.audit(AuditRecord(action: "staff.list", recordIDs: ids), context: context, db: db)
                    return .with { $0.staff = ids.compactMap { try? StaffStore.message(db, id: $0) } }
                }
            },
            .unary("Get", Haven_V1_GetStaffRequest.self, Haven_V1_GetStaffResponse.self, access: .staff) { request, context in
                try await core.perform(context) { db in try Self.response(db, request.staffID) }
            },
            .unary("SetRoles", Haven_V1_SetRolesRequest.self, Haven_V1_GetStaffResponse.self, access: admin) { request, context in
                let roles = try Self.parseRoles(request.roles)
                return try await core.perform(context) { db in
                    _ = try Self.response(db, request.staffID)
                    if request.staffID == core.localAdminStaffID {
                        throw RPCError.failedPrecondition("the built-in local administrator always has exactly the admin role")
                    }
                    try StaffStore.setRoles(db, staffID: request.staffID, roles: roles)
                    try core.audit(AuditRecord(action: "staff.roles", recordIDs: [request.staffID], fields: ["roles"], purpose: roles.sorted().map(\.rawValue).joined(separator: ",")), context: context, db: db)
                    return try Self.response(db, request.staffID)
                }
            },
            .unary("SetSchools", Haven_V1_SetSchoolsRequest.self, Haven_V1_GetStaffResponse.self, access: admin) { request, context in
                try await core.perform(context) { db in
                    _ = try Self.response(db, request.staffID)
                    try Self.checkSchools(db, request.schoolIds)
                    try StaffStore.setSchools(db, staffID: request.staffID, schoolIDs: request.schoolIds)
                    try core.audit(AuditRecord(action: "staff.schools", recordIDs: [request.staffID] + request.schoolIds, fields: ["schools"]), context: context, db: db)
                    return try Self.response(db, request.staffID)
                }
            },
            .unary("Deactivate", Haven_V1_DeactivateStaffRequest.self, Haven_V1_GetStaffResponse.self, access: admin) { request, context in
                try await setActive(request.staffID, false, context)
            },
            .unary("Reactivate", Haven_V1_DeactivateStaffRequest.self, Haven_V1_GetStaffResponse.self, access: admin) { request, context in
                try await setActive(request.staffID, true, context)
            },
            .unary("LinkUid", Haven_V1_LinkUidRequest.self, Haven_V1_GetStaffResponse.self, access: admin) { request, context in
                try await core.perform(context) { db in
                    _ = try Self.response(db, request.staffID)
                    if let other = try StaffStore.staffID(forUID: request.uid, db), other != request.staffID {
                        throw RPCError.alreadyExists("uid \(request.uid) is already linked to \(try StaffStore.displayName(db, id: other)); unlink it first")
                    }
                    try StaffStore.link(db, uid: request.uid, staffID: request.staffID)
                    try core.audit(AuditRecord(action: "staff.link_uid", recordIDs: [request.staffID], fields: ["uid"], purpose: "uid \(request.uid)"), context: context, db: db)
                    return try Self.response(db, request.staffID)
                }
            },
            .unary("UnlinkUid", Haven_V1_LinkUidRequest.self, Haven_V1_GetStaffResponse.self, access: admin) { request, context in
                try await core.perform(context) { db in
                    guard try StaffStore.unlink(db, uid: request.uid, staffID: request.staffID) else {
                        throw RPCError.notFound("uid \(request.uid) is not linked to staff \(request.staffID)")
                    }
                    try core.audit(AuditRecord(action: "staff.unlink_uid", recordIDs: [request.staffID], fields: ["uid"], purpose: "uid \(request.uid)"), context: context, db: db)
                    return try Self.response(db, request.staffID)
                }
            },
            .unary("AssignCaseload", Haven_V1_CaseloadRequest.self, Haven_V1_CaseloadResponse.self, access: .roles([.admin, .administrator])) { request, context in
                try await changeCaseload(request, context, assign: true)
            },
            .unary("UnassignCaseload", Haven_V1_CaseloadRequest.self, Haven_V1_CaseloadResponse.self, access: .roles([.admin, .administrator])) { request, context in
                try await changeCaseload(request, context, assign: false)
            },
            .unary("ListCaseload", Haven_V1_ListCaseloadRequest.self, Haven_V1_CaseloadResponse.self, access: .staff) { request, context in
                let staffID = request.staffID.nonEmpty ?? context.caller.staffID!
                return try await core.perform(context) { db in
                    if staffID != context.caller.staffID, !context.caller.hasAny([.admin, .administrator]) {
                        throw AccessDenied("you can list only your own caseload")
                    }
                    let rows = try StaffStore.caseload(db, staffID: staffID)
                    try core.audit(AuditRecord(action: "caseload.list", recordIDs: [staffID] + rows.map { $0["id"] as String }), context: context, db: db)
                    return .with {
                        $0.staffID = staffID
                        $0.students = rows.map(StudentStore.message)
                    }
                }
            },
        ])
    }

    private func setActive(_ staffID: String, _ active: Bool, _ context: CallContext) async throws -> Haven_V1_GetStaffResponse {
        let now = StoredTime.ms(core.clock.now())
        return try await core.perform(context) { db in
            _ = try Self.response(db, staffID)
            if staffID == core.localAdminStaffID {
                throw RPCError.failedPrecondition("the built-in local administrator cannot be deactivated; change [access] local_admin_uids instead")
            }
            try StaffStore.setActive(db, staffID: staffID, active: active, now: now)
            try core.audit(AuditRecord(action: active ? "staff.reactivate" : "staff.deactivate", recordIDs: [staffID], fields: ["active"]), context: context, db: db)
            return try Self.response(db, staffID)
        }
    }

    private func changeCaseload(_ request: Haven_V1_CaseloadRequest, _ context: CallContext, assign: Bool) async throws -> Haven_V1_CaseloadResponse {
        let now = StoredTime.ms(core.clock.now())
        return try await core.perform(context) { db in
            guard let staff = try StaffStore.record(db, id: request.staffID) else { throw RPCError.notFound("there is no staff member \(request.staffID)") }
            if assign, staff.roles.isDisjoint(with: Self.caseloadRoles) {
                throw RPCError.failedPrecondition("caseloads are for counselors, social workers, psychologists and nurses; \(staff.displayName) has none of those roles")
            }
            var ids: [String] = []
            for studentID in request.studentIds {
                guard let student = try StudentStore.student(db, id: studentID) else { throw RPCError.notFound("there is no student \(studentID)") }
                if !context.caller.has(.admin) {
                    let schools = try StaffStore.schools(db, staffID: context.caller.staffID!)
                    if !schools.contains(student.schoolID) {
                        throw AccessDenied("administrators manage caseloads at their own schools only", studentID: student.id)
                    }
                }
                if assign {
                    try StaffStore.assign(db, staffID: staff.id, studentID: student.id, by: context.caller.staffID!, now: now)
                } else {
                    try StaffStore.unassign(db, staffID: staff.id, studentID: student.id)
                }
                ids.append(student.id)
            }
            try core.audit(AuditRecord(action: assign ? "caseload.assign" : "caseload.unassign", recordIDs: [staff.id] + ids), context: context, db: db)
            return .with {
                $0.staffID = staff.id
                $0.students = (try? StaffStore.caseload(db, staffID: staff.id).map(StudentStore.message)) ?? []
            }
        }
    }

    static func response(_ db: Database, _ id: String) throws -> Haven_V1_GetStaffResponse {
        guard let message = try StaffStore.message(db, id: id) else { throw RPCError.notFound("there is no staff member \(id)") }
        return .with { $0.staff = message }
    }

    static func parseRole(_ name: String) throws -> Role {
        guard let role = Role(rawValue: name) else {
            throw RPCError.invalidArgument("\"\(name)\" is not a role; roles are \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return role
    }

    static func parseRoles(_ names: [String]) throws -> Set<Role> {
        guard !names.isEmpty else { throw RPCError.invalidArgument("roles: give at least one role") }
        return Set(try names.map(parseRole))
    }

    static func checkSchools(_ db: Database, _ ids: [String]) throws {
        for id in ids where try !StudentStore.schoolExists(db, id: id) {
            throw RPCError.notFound("there is no school \(id)")
        }
    }
}
