import Foundation
import HavenProto
import HavenRPCClient
import HavenTestSupport
import HavenWire
import Testing

/// Each rule of access (Docs/privacy.md), for each role, with and without an
/// assignment, grant, expired grant and emergency access.
@Suite(.serialized) struct AccessRuleTests {
    struct School {
        let harness: CoreHarness
        let school1: String, school2: String
        let counselor: RPCClient, teacher: RPCClient, principal: RPCClient, sro: RPCClient, analyst: RPCClient, nurse: RPCClient, otherCounselor: RPCClient
        let ids: [String: String]  // persona -> staff id
        func student(_ sourceID: String) async throws -> String { try await harness.student(sourceID).id }
    }

    static func school(config: String = "") async throws -> School {
        let h = try await CoreHarness.start(config: config)
        try await h.importRoster(SyntheticRoster.make(schools: 2, studentsPerSchool: 10).files)
        let s1 = try await h.schoolID(ofStudent: "stu-1-1"), s2 = try await h.schoolID(ofStudent: "stu-2-1")
        var ids: [String: String] = [:]
        ids["counselor"] = try await h.addStaff("Cora Counselor", [.counselor], schools: [s1])
        ids["teacher"] = try await h.addStaff("Tom Teacher", [.teacher], schools: [s1])
        ids["principal"] = try await h.addStaff("Pat Principal", [.administrator], schools: [s1])
        ids["sro"] = try await h.addStaff("Officer Oak", [.sro], schools: [s1])
        ids["analyst"] = try await h.addStaff("Ana Analyst", [.analyst], schools: [])
        ids["nurse"] = try await h.addStaff("Nell Nurse", [.nurse], schools: [s1])
        ids["other"] = try await h.addStaff("Otto Counselor", [.counselor], schools: [s2])
        var caseload: [String] = []
        for n in 1...5 { caseload.append(try await h.student("stu-1-\(n)").id) }
        try await h.caseload(ids["counselor"]!, caseload)
        try await h.caseload(ids["nurse"]!, [caseload[1]])
        return School(
            harness: h, school1: s1, school2: s2,
            counselor: try await h.client(as: ids["counselor"]!), teacher: try await h.client(as: ids["teacher"]!),
            principal: try await h.client(as: ids["principal"]!), sro: try await h.client(as: ids["sro"]!),
            analyst: try await h.client(as: ids["analyst"]!), nurse: try await h.client(as: ids["nurse"]!),
            otherCounselor: try await h.client(as: ids["other"]!), ids: ids)
    }

    @Test func counselorsSeeTheirCaseloadAndAreToldWhoToAskOtherwise() async throws {
        let s = try await Self.school()
        let onCaseload = try await s.student("stu-1-1"), offCaseload = try await s.student("stu-1-7")
        let a = try await s.teacher.createConcern([onCaseload]).concerns[0]
        let b = try await s.teacher.createConcern([offCaseload]).concerns[0]

        let seen = try await s.counselor.getConcern(a.id)
        #expect(seen.narrative == "Seemed withdrawn all week.")
        let denied = await statusOf { _ = try await s.counselor.getConcern(b.id) }
        #expect(denied?.code == .permissionDenied)
        #expect(denied?.message.contains("counselors see the students on their caseload") == true)
        #expect(denied?.message.contains("Pat Principal") == true, "says whom to ask: \(denied?.message ?? "")")

        // The counselor's list holds the caseload student's concern only.
        let list = try await s.counselor.listConcerns()
        #expect(list.concerns.map(\.id) == [a.id])

        // The denial is in the audit log, with who and which student.
        let log: Haven_V1_AuditLogResponse = try await s.harness.admin.unary("haven.v1.Audit", "Log", Haven_V1_AuditLogRequest.with { $0.studentID = offCaseload })
        #expect(log.entries.contains { $0.action == "access.denied" && $0.actorID == s.ids["counselor"] && $0.outcome == "denied" && $0.method == "haven.v1.Concerns/Get" })
        await s.harness.stop()
    }

    @Test func schoolScopeIsConfigurable() async throws {
        let s = try await Self.school(config: "[access.scopes]\ncounselor = \"school\"\n")
        let offCaseload = try await s.student("stu-1-7"), otherSchool = try await s.student("stu-2-2")
        let c = try await s.teacher.createConcern([offCaseload]).concerns[0]
        #expect(try await s.counselor.getConcern(c.id).id == c.id)
        let elsewhere = try await s.otherCounselor.createConcern([otherSchool]).concerns[0]
        #expect(await statusOf { _ = try await s.counselor.getConcern(elsewhere.id) }?.code == .permissionDenied)
        await s.harness.stop()
    }

    @Test func administratorsSeeTheirSchoolOnly() async throws {
        let s = try await Self.school()
        let mine = try await s.teacher.createConcern([try await s.student("stu-1-8")]).concerns[0]
        let theirs = try await s.otherCounselor.createConcern([try await s.student("stu-2-3")]).concerns[0]
        #expect(try await s.principal.getConcern(mine.id).id == mine.id)
        let denied = await statusOf { _ = try await s.principal.getConcern(theirs.id) }
        #expect(denied?.code == .permissionDenied)
        #expect(denied?.message.contains("administrators see the students at their own schools") == true)
        await s.harness.stop()
    }

    @Test func teachersSeeWhatTheyReportedAndNothingElse() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-2")
        let own = try await s.teacher.createConcern([student]).concerns[0]
        let nurses = try await s.nurse.createConcern([student], category: "physical_health").concerns[0]
        #expect(try await s.teacher.getConcern(own.id).id == own.id)
        #expect(await statusOf { _ = try await s.teacher.getConcern(nurses.id) }?.code == .permissionDenied)
        let timeline = try await s.teacher.timeline(student)
        #expect(timeline.entries.map(\.recordID) == [own.id])
        #expect(timeline.hiddenEntries == 1)
        #expect(try await s.teacher.listConcerns().concerns.map(\.id) == [own.id])
        // A teacher may not triage or close even their own report.
        let triage = await statusOf {
            let _: Haven_V1_Concern = try await s.teacher.unary("haven.v1.Concerns", "SetStatus", Haven_V1_SetStatusRequest.with { $0.concernID = own.id; $0.status = "triaged" })
        }
        #expect(triage?.code == .permissionDenied)
        // But the nurse, with the student on their caseload, sees both.
        #expect(try await s.nurse.timeline(student).entries.count == 2)
        await s.harness.stop()
    }

    @Test func anSROSeesNothingUntilAPersonGrantsItWithAReason() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-1")
        let concern = try await s.teacher.createConcern([student], category: "weapon", severity: "high").concerns[0]
        let before = await statusOf { _ = try await s.sro.getConcern(concern.id) }
        #expect(before?.code == .permissionDenied)
        #expect(before?.message.contains("school resource officers see only the cases they are granted") == true)

        let expires = s.harness.clock.now().addingTimeInterval(7 * 86_400)
        var grant = Haven_V1_CreateGrantRequest.with {
            $0.studentID = student
            $0.granteeID = s.ids["sro"]!
            $0.purpose = "threat assessment team"
            $0.expiresAt = .init(date: expires)
        }
        let noReason = await statusOf { let _: Haven_V1_Grant = try await s.counselor.unary("haven.v1.Access", "CreateGrant", grant) }
        #expect(noReason?.code == .invalidArgument)
        #expect(noReason?.message.contains("disclosure") == true)
        grant.lawEnforcementReason = "Weapon rumour; TAT decided the SRO joins the assessment."
        let created: Haven_V1_Grant = try await s.counselor.unary("haven.v1.Access", "CreateGrant", grant)
        #expect(created.lawEnforcement)
        #expect(try await s.sro.getConcern(concern.id).id == concern.id)
        // The grant is on the student's timeline.
        #expect(try await s.counselor.timeline(student).entries.contains { $0.kind == "grant" && $0.title.contains("law enforcement") })

        // Expired: access ends.
        s.harness.clock.advance(by: 8 * 86_400)
        #expect(await statusOf { _ = try await s.sro.getConcern(concern.id) }?.code == .permissionDenied)

        // Revoked: access ends at once.
        grant.expiresAt = .init(date: s.harness.clock.now().addingTimeInterval(86_400))
        let second: Haven_V1_Grant = try await s.counselor.unary("haven.v1.Access", "CreateGrant", grant)
        #expect(try await s.sro.getConcern(concern.id).id == concern.id)
        let _: Haven_V1_Grant = try await s.counselor.unary("haven.v1.Access", "RevokeGrant", Haven_V1_RevokeGrantRequest.with { $0.grantID = second.id; $0.reason = "assessment finished" })
        #expect(await statusOf { _ = try await s.sro.getConcern(concern.id) }?.code == .permissionDenied)
        await s.harness.stop()
    }

    @Test func onlyCounselorLevelStaffWhoSeeTheCaseMayGrantIt() async throws {
        let s = try await Self.school()
        let offCaseload = try await s.student("stu-1-9")
        let request = Haven_V1_CreateGrantRequest.with {
            $0.studentID = offCaseload
            $0.granteeID = s.ids["teacher"]!
            $0.purpose = "IEP"
            $0.expiresAt = .init(date: s.harness.clock.now().addingTimeInterval(86_400))
        }
        #expect(await statusOf { let _: Haven_V1_Grant = try await s.counselor.unary("haven.v1.Access", "CreateGrant", request) }?.code == .permissionDenied)
        #expect(await statusOf { let _: Haven_V1_Grant = try await s.teacher.unary("haven.v1.Access", "CreateGrant", request) }?.code == .permissionDenied)
        let _: Haven_V1_Grant = try await s.principal.unary("haven.v1.Access", "CreateGrant", request)
        await s.harness.stop()
    }

    @Test func analystsNeverSeeAnIndividualRecord() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-1")
        let concern = try await s.teacher.createConcern([student]).concerns[0]
        for call: () async throws -> Void in [
            { _ = try await s.analyst.getConcern(concern.id) },
            { _ = try await s.analyst.listConcerns() },
            { _ = try await s.analyst.timeline(student) },
            { _ = try await s.analyst.createConcern([student]) },
            { let _: Haven_V1_FindStudentsResponse = try await s.analyst.unary("haven.v1.Students", "Find", Haven_V1_FindStudentsRequest.with { $0.text = "a" }) },
        ] {
            #expect(await statusOf(call)?.code == .permissionDenied)
        }
        await s.harness.stop()
    }

    @Test func emergencyAccessNeedsAReasonLastsAFixedTimeAndTellsAdministrators() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-6")
        let concern = try await s.nurse.createConcern([student], category: "self_harm_suicide", severity: "high").concerns[0]
        #expect(await statusOf { _ = try await s.teacher.getConcern(concern.id) }?.code == .permissionDenied)
        let short = await statusOf {
            let _: Haven_V1_EmergencyAccess = try await s.teacher.unary("haven.v1.Access", "OpenEmergencyAccess", Haven_V1_EmergencyAccessRequest.with { $0.studentID = student; $0.reason = "urgent" })
        }
        #expect(short?.code == .invalidArgument)
        let opened: Haven_V1_EmergencyAccess = try await s.teacher.unary("haven.v1.Access", "OpenEmergencyAccess", Haven_V1_EmergencyAccessRequest.with {
            $0.studentID = student
            $0.reason = "Student is missing from class after saying goodbye to friends."
        })
        #expect(opened.expiresAt.date.timeIntervalSince(opened.createdAt.date) == 3600)
        #expect(try await s.teacher.getConcern(concern.id).id == concern.id)
        let notes: Haven_V1_ListNotificationsResponse = try await s.principal.unary("haven.v1.Notifications", "List", Haven_V1_ListNotificationsRequest())
        #expect(notes.notifications.contains { $0.kind == "access.emergency" && $0.subjectID == opened.id })
        s.harness.clock.advance(by: 3601)
        #expect(await statusOf { _ = try await s.teacher.getConcern(concern.id) }?.code == .permissionDenied)
        // The emergency access stays on the timeline.
        #expect(try await s.principal.timeline(student).entries.contains { $0.kind == "emergency_access" })
        await s.harness.stop()
    }

    @Test func staffReportOnlyAboutStudentsAtTheirSchools() async throws {
        let s = try await Self.school()
        let elsewhere = try await s.student("stu-2-5")
        let denied = await statusOf { _ = try await s.teacher.createConcern([elsewhere]) }
        #expect(denied?.code == .permissionDenied)
        #expect(denied?.message.contains("not one of your schools") == true)
        await s.harness.stop()
    }

    @Test func deactivationEndsAccessOnTheNextCall() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-1")
        _ = try await s.counselor.createConcern([student])
        let _: Haven_V1_GetStaffResponse = try await s.harness.admin.unary("haven.v1.Staff", "Deactivate", Haven_V1_DeactivateStaffRequest.with { $0.staffID = s.ids["counselor"]! })
        let after = await statusOf { _ = try await s.counselor.listConcerns() }
        #expect(after?.code == .permissionDenied)
        #expect(after?.message.contains("deactivated") == true)
        await s.harness.stop()
    }

    @Test func tokensExpireAndCanBeRevoked() async throws {
        let s = try await Self.school()
        let r: Haven_V1_CreateTokenResponse = try await s.harness.admin.unary("haven.v1.Tokens", "Create", Haven_V1_CreateTokenRequest.with {
            $0.staffID = s.ids["teacher"]!
            $0.name = "export script"
            $0.validDays = 1
        })
        #expect(r.secret.hasPrefix("hvn_"))
        let tool = try await RPCClient.connect(unixSocket: s.harness.daemon.socketPath, metadata: [("authorization", "Bearer \(r.secret)")])
        let hello: Haven_V1_HelloResponse = try await tool.unary("haven.v1.Daemon", "Hello", Haven_V1_HelloRequest())
        #expect(hello.caller.authMethod == "token")
        #expect(hello.caller.staffID == s.ids["teacher"]!)
        // The second call finds the token cached and is answered without a task: the same answer.
        let again: Haven_V1_HelloResponse = try await tool.unary("haven.v1.Daemon", "Hello", Haven_V1_HelloRequest())
        #expect(again == hello)
        s.harness.clock.advance(by: 2 * 86_400)
        #expect(await statusOf { let _: Haven_V1_HelloResponse = try await tool.unary("haven.v1.Daemon", "Hello", Haven_V1_HelloRequest()) }?.code == .unauthenticated)

        let second: Haven_V1_CreateTokenResponse = try await s.harness.admin.unary("haven.v1.Tokens", "Create", Haven_V1_CreateTokenRequest.with {
            $0.staffID = s.ids["teacher"]!
            $0.name = "second"
        })
        let tool2 = try await RPCClient.connect(unixSocket: s.harness.daemon.socketPath, metadata: [("authorization", "Bearer \(second.secret)")])
        _ = try await tool2.listConcerns()
        let _: Haven_V1_TokenInfo = try await s.harness.admin.unary("haven.v1.Tokens", "Revoke", Haven_V1_RevokeTokenRequest.with { $0.tokenID = second.token.id })
        #expect(await statusOf { _ = try await tool2.listConcerns() }?.code == .unauthenticated)
        let bogus = try await RPCClient.connect(unixSocket: s.harness.daemon.socketPath, metadata: [("authorization", "Bearer hvn_nope")])
        #expect(await statusOf { _ = try await bogus.listConcerns() }?.code == .unauthenticated)
        await s.harness.stop()
    }

    @Test func anUnlinkedLocalUserIsToldHowToGetAccess() async throws {
        let h = try await CoreHarness.start(config: "[access]\nlocal_admin_uids = []\n")
        let denied = await statusOf { _ = try await h.admin.listConcerns() }
        #expect(denied?.code == .permissionDenied)
        #expect(denied?.message.contains("haven staff link") == true)
        await h.stop()
    }

    @Test func theMatrixIsPrintableAndRejectsAnSROScope() async throws {
        let s = try await Self.school()
        let matrix: Haven_V1_MatrixResponse = try await s.teacher.unary("haven.v1.Access", "Matrix", Haven_V1_MatrixRequest())
        #expect(matrix.text.contains("sro\n  sees: no student's records, except cases a person grants"))
        #expect(matrix.rows.count == 10)
        await s.harness.stop()
        #expect(throws: Error.self) { _ = try CoreSettingsProbe.parse("[access.scopes]\nsro = \"school\"\n") }
    }
}

import HavenConfig
import HavenDaemon
enum CoreSettingsProbe {
    static func parse(_ text: String, plugins: [any HavenPlugin] = []) throws -> DaemonConfiguration {
        try DaemonConfiguration.parse(ConfigDocument(text: text, name: "t.toml"), overrides: CommandLineOverrides(), plugins: plugins, environment: [:])
    }
}
import HavenPluginAPI
