import ArgumentParser
import HavenProto

/// `haven student show|find`.
struct StudentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "student", abstract: "Look up students.", subcommands: [Show.self, Find.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a student (by Haven id or roster sourcedId) and how you may see their records.")
        @OptionGroup var global: GlobalOptions
        @Argument var student: String

        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_GetStudentResponse = try await session.unary("haven.v1.Students", "Get", Haven_V1_GetStudentRequest.with { $0.studentID = student })
                try emit(r, global) {
                    var kv = KeyValues()
                    kv.add("student", studentLabel(r.student))
                    kv.add("id", r.student.id)
                    if !r.student.sourceID.isEmpty { kv.add("roster id", r.student.sourceID) }
                    if !r.student.birthDate.isEmpty { kv.add("born", r.student.birthDate) }
                    kv.add("your access", r.access.kind.isEmpty ? "directory only — \(r.access.detail)" : "\(r.access.kind)\(r.access.detail.isEmpty ? "" : " (\(r.access.detail))")")
                    return kv.render()
                }
            }
        }
    }

    struct Find: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Find students by name.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Part of the student's name.") var text: [String]
        @Option var school: String?
        @Option var limit: Int = 20
        @Flag var includeInactive = false

        func run() async throws {
            try await withSession(global) { session in
                let request = Haven_V1_FindStudentsRequest.with {
                    $0.text = text.joined(separator: " ")
                    $0.schoolID = school ?? ""
                    $0.limit = Int32(limit)
                    $0.includeInactive = includeInactive
                }
                let r: Haven_V1_FindStudentsResponse = try await session.unary("haven.v1.Students", "Find", request)
                try emit(r, global) {
                    if r.students.isEmpty { return "No student matches." }
                    var table = Table("ID", "NAME", "GRADE", "SCHOOL")
                    for s in r.students {
                        table.add(s.id, "\(s.preferredName.isEmpty ? s.givenName : s.preferredName) \(s.familyName)\(s.active ? "" : " [inactive]")", s.grade, s.schoolName)
                    }
                    return table.render()
                }
            }
        }
    }
}

/// `haven staff ...`.
struct StaffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "staff", abstract: "Manage staff accounts, roles and linked users.",
        subcommands: [Add.self, List.self, Show.self, Link.self, Unlink.self, Roles.self, Schools.self, Deactivate.self, Reactivate.self])

    static func render(_ s: Haven_V1_StaffMember) -> String {
        var kv = KeyValues()
        kv.add("staff", "\(s.displayName)\(s.active ? "" : " [deactivated]")")
        kv.add("id", s.id)
        kv.add("roles", s.roles.joined(separator: ", "))
        if !s.email.isEmpty { kv.add("email", s.email) }
        kv.add("schools", s.schoolIds.isEmpty ? "(district)" : s.schoolIds.joined(separator: ", "))
        if !s.linkedUids.isEmpty { kv.add("linked uids", s.linkedUids.map(String.init).joined(separator: ", ")) }
        return kv.render()
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a staff account.")
        @OptionGroup var global: GlobalOptions
        @Option var name: String
        @Option var email: String = ""
        @Option(help: "A role (repeat for more): admin, administrator, counselor, social_worker, psychologist, nurse, teacher, sro, analyst, integration.") var role: [String]
        @Option(help: "A school id (repeat for more).") var school: [String] = []
        @Option(help: "Link this local uid to the account.") var uid: UInt32?

        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_AddStaffResponse = try await session.unary("haven.v1.Staff", "Add", Haven_V1_AddStaffRequest.with {
                    $0.displayName = name
                    $0.email = email
                    $0.roles = role
                    $0.schoolIds = school
                    if let uid { $0.link = true; $0.linkUid = uid }
                })
                try emit(r, global) { StaffCommand.render(r.staff) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List staff.")
        @OptionGroup var global: GlobalOptions
        @Option var role: String?
        @Option var school: String?
        @Flag var includeInactive = false

        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_ListStaffResponse = try await session.unary("haven.v1.Staff", "List", Haven_V1_ListStaffRequest.with {
                    $0.role = role ?? ""
                    $0.schoolID = school ?? ""
                    $0.includeInactive = includeInactive
                })
                try emit(r, global) {
                    var table = Table("ID", "NAME", "ROLES", "UIDS")
                    for s in r.staff {
                        table.add(s.id, s.displayName + (s.active ? "" : " [deactivated]"), s.roles.joined(separator: ","), s.linkedUids.map(String.init).joined(separator: ","))
                    }
                    return table.render()
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a staff account.")
        @OptionGroup var global: GlobalOptions
        @Argument var staff: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_GetStaffResponse = try await session.unary("haven.v1.Staff", "Get", Haven_V1_GetStaffRequest.with { $0.staffID = staff })
                try emit(r, global) { StaffCommand.render(r.staff) }
            }
        }
    }

    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recognise a local user (by uid) as a staff member.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The local user's uid (see `id -u`).") var uid: UInt32
        @Option var staff: String
        func run() async throws { try await change("LinkUid", Haven_V1_LinkUidRequest.with { $0.staffID = staff; $0.uid = uid }, global) }
    }

    struct Unlink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop recognising a uid as a staff member.")
        @OptionGroup var global: GlobalOptions
        @Option var uid: UInt32
        @Option var staff: String
        func run() async throws { try await change("UnlinkUid", Haven_V1_LinkUidRequest.with { $0.staffID = staff; $0.uid = uid }, global) }
    }

    struct Roles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a staff member's roles.")
        @OptionGroup var global: GlobalOptions
        @Argument var staff: String
        @Option var role: [String]
        func run() async throws { try await change("SetRoles", Haven_V1_SetRolesRequest.with { $0.staffID = staff; $0.roles = role }, global) }
    }

    struct Schools: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a staff member's schools.")
        @OptionGroup var global: GlobalOptions
        @Argument var staff: String
        @Option var school: [String] = []
        func run() async throws { try await change("SetSchools", Haven_V1_SetSchoolsRequest.with { $0.staffID = staff; $0.schoolIds = school }, global) }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a staff member's access (from their next call).")
        @OptionGroup var global: GlobalOptions
        @Argument var staff: String
        func run() async throws { try await change("Deactivate", Haven_V1_DeactivateStaffRequest.with { $0.staffID = staff }, global) }
    }

    struct Reactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restore a deactivated staff member.")
        @OptionGroup var global: GlobalOptions
        @Argument var staff: String
        func run() async throws { try await change("Reactivate", Haven_V1_DeactivateStaffRequest.with { $0.staffID = staff }, global) }
    }

    static func change<R: SwiftProtobufMessage>(_ method: String, _ request: R, _ global: GlobalOptions) async throws {
        try await withSession(global) { session in
            let r: Haven_V1_GetStaffResponse = try await session.unary("haven.v1.Staff", method, request)
            try emit(r, global) { render(r.staff) }
        }
    }
}

/// `haven caseload add|remove|list`.
struct CaseloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "caseload", abstract: "The students a counselor, social worker, psychologist or nurse is responsible for.",
                                                    subcommands: [Add.self, Remove.self, List.self])

    static func render(_ r: Haven_V1_CaseloadResponse) -> String {
        if r.students.isEmpty { return "The caseload is empty." }
        var table = Table("ID", "STUDENT")
        for s in r.students { table.add(s.id, studentLabel(s)) }
        return table.render()
    }

    struct Add: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option var staff: String
        @Argument var students: [String]
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_CaseloadResponse = try await session.unary("haven.v1.Staff", "AssignCaseload", Haven_V1_CaseloadRequest.with { $0.staffID = staff; $0.studentIds = students })
                try emit(r, global) { CaseloadCommand.render(r) }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option var staff: String
        @Argument var students: [String]
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_CaseloadResponse = try await session.unary("haven.v1.Staff", "UnassignCaseload", Haven_V1_CaseloadRequest.with { $0.staffID = staff; $0.studentIds = students })
                try emit(r, global) { CaseloadCommand.render(r) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option(help: "Whose caseload (default: yours).") var staff: String?
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_CaseloadResponse = try await session.unary("haven.v1.Staff", "ListCaseload", Haven_V1_ListCaseloadRequest.with { $0.staffID = staff ?? "" })
                try emit(r, global) { CaseloadCommand.render(r) }
            }
        }
    }
}

/// `haven token create|list|revoke`.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Access tokens for tools and remote users.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; its secret is shown once.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Whose access the token carries (default: yours; others need admin).") var staff: String?
        @Option(help: "What it is for.") var name: String
        @Option var days: Int64 = 90
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_CreateTokenResponse = try await session.unary("haven.v1.Tokens", "Create", Haven_V1_CreateTokenRequest.with {
                    $0.staffID = staff ?? ""
                    $0.name = name
                    $0.validDays = days
                })
                try emit(r, global) {
                    "\(r.secret)\n\nThis secret is shown once; Haven keeps only its hash. It expires \(Dates.show(r.token.expiresAt)).\nUse it with --token or HAVEN_TOKEN. Token id: \(r.token.id)"
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option var staff: String?
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_ListTokensResponse = try await session.unary("haven.v1.Tokens", "List", Haven_V1_ListTokensRequest.with { $0.staffID = staff ?? "" })
                try emit(r, global) {
                    var table = Table("ID", "NAME", "STAFF", "PREFIX", "EXPIRES", "STATE")
                    for t in r.tokens { table.add(t.id, t.name, t.staffID, t.prefix + "…", Dates.show(t.expiresAt), t.hasRevokedAt ? "revoked" : "active") }
                    return table.render()
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var token: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_TokenInfo = try await session.unary("haven.v1.Tokens", "Revoke", Haven_V1_RevokeTokenRequest.with { $0.tokenID = token })
                try emit(r, global) { "Token \(r.id) (\(r.name)) is revoked." }
            }
        }
    }
}

import SwiftProtobuf
typealias SwiftProtobufMessage = SwiftProtobuf.Message
