import Foundation
import HavenProto
import HavenRPCClient
import HavenTestSupport
import HavenWire
import Testing

/// The domain flows end to end: the haven CLI against a real havend process.
@Suite(.serialized) struct CoreFlowTests {
    func json(_ result: CommandResult) throws -> [String: Any] {
        guard result.status == 0 else { throw TestFailure("command failed (\(result.status)): \(result.stderr)") }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
    }

    func writeRoster(_ roster: SyntheticRoster, in directory: TemporaryDirectory) throws -> String {
        for (name, text) in roster.files { _ = try directory.write("roster/\(name)", text) }
        return directory.file("roster")
    }

    @Test func fromRosterToConcernToTimelineToAudit() async throws {
        let daemon = try await DaemonProcess().start()
        let dir = try writeRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 8), in: daemon.directory)
        let imported = try await daemon.cli(["roster", "import", dir])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("students: 8 added"))

        let student = try json(try await daemon.cli(["student", "show", "stu-1-2", "--output", "json"]))["student"] as! [String: Any]
        let studentID = student["id"] as! String, school = student["schoolId"] as! String
        let counselor = try json(try await daemon.cli(["staff", "add", "--name", "Cora Counselor", "--role", "counselor", "--school", school, "--output", "json"]))
        let counselorID = (counselor["staff"] as! [String: Any])["id"] as! String
        let teacher = try json(try await daemon.cli(["staff", "add", "--name", "Tom Teacher", "--role", "teacher", "--school", school, "--output", "json"]))
        let teacherID = (teacher["staff"] as! [String: Any])["id"] as! String
        #expect(try await daemon.cli(["caseload", "add", "--staff", counselorID, studentID]).status == 0)
        let teacherToken = try json(try await daemon.cli(["token", "create", "--staff", teacherID, "--name", "test", "--output", "json"]))["secret"] as! String
        let counselorToken = try json(try await daemon.cli(["token", "create", "--staff", counselorID, "--name", "test", "--output", "json"]))["secret"] as! String
        let asTeacher = ["HAVEN_TOKEN": teacherToken], asCounselor = ["HAVEN_TOKEN": counselorToken]

        // The teacher writes it down in a minute.
        let added = try await daemon.cli(["concern", "add", "--student", "stu-1-2", "--category", "withdrawal_mood", "--severity", "moderate",
                                          "--narrative", "Withdrawn all week; said nobody would notice if they left."], environment: asTeacher)
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("Recorded concern"))
        let list = try json(try await daemon.cli(["concern", "list", "--output", "json"], environment: asCounselor))
        let concern = (list["concerns"] as! [[String: Any]])[0]
        let concernID = concern["id"] as! String

        // The counselor triages, notes and closes it.
        #expect(try await daemon.cli(["concern", "triage", concernID], environment: asCounselor).status == 0)
        #expect(try await daemon.cli(["concern", "note", concernID, "Met", "the", "student;", "safety", "plan", "made."], environment: asCounselor).status == 0)
        let refused = try await daemon.cli(["concern", "close", concernID, "--disposition", "resolved", "--reason", "Done."], environment: asTeacher)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("PERMISSION_DENIED"))
        let closed = try await daemon.cli(["concern", "close", concernID, "--disposition", "referred", "--reason", "Ongoing counselling."], environment: asCounselor)
        #expect(closed.status == 0)
        #expect(closed.stdout.contains("closed — referred"))
        let shown = try await daemon.cli(["concern", "show", concernID], environment: asCounselor)
        #expect(shown.stdout.contains("safety plan made."))

        // The timeline shows it all to the counselor, the teacher's own report to the teacher.
        let timeline = try await daemon.cli(["timeline", "stu-1-2"], environment: asCounselor)
        #expect(timeline.stdout.contains("Concern: Withdrawal or mood change (moderate), reported by Tom Teacher"))
        #expect(timeline.stdout.contains("Status: closed (referred) by Cora Counselor"))

        // Who looked: the counselor reads the student's audit trail; the chain verifies.
        let audit = try await daemon.cli(["audit", "log", "--student", "stu-1-2"], environment: asCounselor)
        #expect(audit.stdout.contains("timeline.read"))
        #expect(audit.stdout.contains("Tom Teacher"))
        let verify = try await daemon.cli(["audit", "verify"])
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("The audit log is intact"))
        #expect(try await daemon.cli(["access", "matrix"]).stdout.contains("sro"))
        try await daemon.stop()
    }

    @Test func aMalformedRosterIsRefusedWithEveryProblemAndChangesNothing() async throws {
        let daemon = try await DaemonProcess().start()
        var roster = SyntheticRoster.make(schools: 1, studentsPerSchool: 3)
        roster.users += "stu-x,,,true,sch-4,student,x,,A,B,,,,,,,99,\n"
        let dir = try writeRoster(roster, in: daemon.directory)
        let result = try await daemon.cli(["roster", "import", dir])
        #expect(result.status == 1)
        #expect(result.stdout.contains("nothing was changed"))
        #expect(result.stdout.contains("users.csv:8: orgSourcedIds: \"sch-4\" is not an org in orgs.csv"))
        #expect(result.stdout.contains("users.csv:8: grades: \"99\" is not a CEDS grade level"))
        let find = try await daemon.cli(["student", "find", "A"])
        #expect(find.stdout.contains("No student matches"))
        try await daemon.stop()
    }

    @Test func eventsResumeFromTheirSequenceAfterSIGKILL() async throws {
        let daemon = try await DaemonProcess().start()
        let dir = try writeRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 3), in: daemon.directory)
        #expect(try await daemon.cli(["roster", "import", dir]).status == 0)
        func addConcern() async throws {
            let r = try await daemon.cli(["concern", "add", "--student", "stu-1-1", "--category", "bullying", "--severity", "low", "--narrative", "n"])
            guard r.status == 0 else { throw TestFailure(r.stderr) }
        }
        for _ in 0..<3 { try await addConcern() }

        var seen: [Int64] = []
        let client = try await daemon.client()
        let stream = try client.serverStream("haven.v1.Events", "Subscribe", Haven_V1_SubscribeRequest.with { $0.fromSequence = 1; $0.types = ["concern.created"] },
                                             as: Haven_V1_Event.self)
        for try await event in stream {
            seen.append(event.sequence)
            if seen.count == 2 { break }
        }
        // Killed mid-stream, with more events written while the subscriber is away.
        try await daemon.stop(signal: SIGKILL)
        await client.close()
        try await daemon.start()
        for _ in 0..<2 { try await addConcern() }
        let again = try await daemon.client()
        let resumed = try again.serverStream("haven.v1.Events", "Subscribe", Haven_V1_SubscribeRequest.with { $0.fromSequence = seen.last! + 1; $0.types = ["concern.created"] },
                                             as: Haven_V1_Event.self)
        for try await event in resumed {
            seen.append(event.sequence)
            if seen.count == 5 { break }
        }
        #expect(seen.count == 5)
        #expect(Set(seen).count == 5, "no event twice")
        #expect(seen == seen.sorted())
        await again.close()
        try await daemon.stop()
    }
}
