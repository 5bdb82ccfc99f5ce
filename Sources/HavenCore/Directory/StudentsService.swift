import GRDB
import HavenPluginAPI
import HavenProto
import HavenWire

/// haven.v1.Students: look a student up, search by name.
struct StudentsService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Students", methods: [
            .unary("Get", Haven_V1_GetStudentRequest.self, Haven_V1_GetStudentResponse.self, access: .staff) { request, context in
                try await core.read(context) { db, trail in
                    guard let (student, message) = try StudentStore.recordAndMessage(db, id: request.studentID) else {
                        throw RPCError.notFound("there is no student \(request.studentID)")
                    }
                    let decision = try core.access(for: context.caller, studentID: student.id, db: db)
                    // Directory details are for staff who may report about the
                    // student or see their case.
                    if !decision.isFull, let reason = try core.policy.canReport(context.caller, student: student, db: db) {
                        throw AccessDenied(reason, studentID: student.id)
                    }
                    trail.record(AuditRecord(action: "student.read", studentID: student.id, recordIDs: [student.id],
                                               fields: ["name", "grade", "school"], purpose: decision.basis))
                    return .with {
                        $0.student = message
                        $0.access = .with { basis in
                            basis.kind = decision.isFull ? decision.basis : ""
                            basis.detail = decision.isFull ? decision.detail : decision.explanation
                        }
                    }
                }
            },
            .unary("Find", Haven_V1_FindStudentsRequest.self, Haven_V1_FindStudentsResponse.self, access: .staff) { request, context in
                guard let text = request.text.nonEmpty else { throw RPCError.invalidArgument("give some of the student's name to search for") }
                let limit = request.limit <= 0 ? 20 : min(Int(request.limit), 200)
                return try await core.read(context) { db, trail in
                    let caller = context.caller
                    if caller.roles.subtracting([.analyst]).isEmpty {
                        throw AccessDenied("analysts see aggregate reports only, not the student directory")
                    }
                    // Staff search their own schools; district-wide roles and staff
                    // without a school search everyone.
                    let districtWide = caller.roles.contains { core.settings.scope(of: $0) == .district } || caller.has(.admin)
                    var schools: [String]? = try StaffStore.schools(db, staffID: caller.staffID!)
                    if districtWide || schools!.isEmpty { schools = nil }
                    if let requested = request.schoolID.nonEmpty {
                        if let allowed = schools, !allowed.contains(requested) {
                            throw AccessDenied("you can search only your own schools")
                        }
                        schools = [requested]
                    }
                    let rows = try StudentStore.find(db, text: text, schoolIDs: schools, limit: limit, includeInactive: request.includeInactive)
                    trail.record(AuditRecord(action: "student.search", recordIDs: rows.map { $0["id"] as String },
                                               fields: ["name", "grade", "school"]))
                    return .with { $0.students = rows.map(StudentStore.message) }
                }
            },
        ])
    }
}
