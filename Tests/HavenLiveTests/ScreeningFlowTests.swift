import Foundation
import HavenProto
import HavenRPCClient
import HavenTestSupport
import Testing

/// The screening plugin through the CLI against a real daemon, including the
/// interactive administration driven through a pseudo-terminal.
@Suite(.serialized) struct ScreeningFlowTests {
    /// A daemon with a roster and a counselor (token in `counselorEnvironment`)
    /// who has every student on their caseload.
    func daemonWithRoster() async throws -> (DaemonProcess, counselor: [String: String]) {
        let daemon = try await DaemonProcess().start()
        for (name, text) in SyntheticRoster.make(schools: 1, studentsPerSchool: 3).files { _ = try daemon.directory.write("roster/\(name)", text) }
        let r = try await daemon.cli(["roster", "import", daemon.directory.file("roster")])
        guard r.status == 0 else { throw TestFailure(r.stderr) }
        func json(_ args: [String]) async throws -> [String: Any] {
            let r = try await daemon.cli(args + ["--output", "json"])
            guard r.status == 0 else { throw TestFailure(r.stderr) }
            return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        }
        let school = ((try await json(["student", "show", "stu-1-1"]))["student"] as! [String: Any])["schoolId"] as! String
        let staff = ((try await json(["staff", "add", "--name", "Cora Counselor", "--role", "counselor", "--school", school]))["staff"] as! [String: Any])["id"] as! String
        guard try await daemon.cli(["caseload", "add", "--staff", staff, "stu-1-1", "stu-1-2", "stu-1-3"]).status == 0 else { throw TestFailure("caseload") }
        let token = (try await json(["token", "create", "--staff", staff, "--name", "test"]))["secret"] as! String
        return (daemon, ["HAVEN_TOKEN": token])
    }

    func drive(_ daemon: DaemonProcess, _ script: String, _ environment: [String: String], _ arguments: [String]) async throws -> CommandResult {
        var env = ProcessInfo.processInfo.environment
        env["HAVEN_SOCKET"] = daemon.socketPath
        for (k, v) in environment { env[k] = v }
        return try await HavenTestSupport.run(
            "/usr/bin/env", ["python3", Binaries.packageRoot + "/Tests/Interop/pty_drive.py", script, "--", Binaries.haven] + arguments, environment: env)
    }

    @Test func scoreIsExactAndPrintsJSON() async throws {
        let daemon = try await DaemonProcess().start()
        let r = try await daemon.cli(["screening", "score", "phq-a", "--answers", "3,3,2,1,1,1,0,0,1,yes,1,no,no", "--output", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(json["total"] as? Double == 12)
        #expect(json["band"] as? String == "moderate")
        let flags = (json["flags"] as! [[String: Any]]).map { $0["name"] as! String }
        #expect(flags == ["suicide_risk", "positive_screen"])
        #expect(((json["instrument"] as! [String: Any])["version"]) as? String == "1")
        let bad = try await daemon.cli(["screening", "score", "gad-7", "--answers", "0,1,2,3,4"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("item 5: \"4\" is not an answer"))
        try await daemon.stop()
    }

    @Test func administeringTheASQInteractivelyShowsTheAcutePathway() async throws {
        let (daemon, counselor) = try await daemonWithRoster()
        // No consent recorded: a scheduled screening is refused; an individual one needs a reason.
        let scheduled = try await daemon.cli(["screening", "administer", "asq", "--student", "stu-1-1", "--scheduled"], environment: counselor)
        #expect(scheduled.status == 1)
        #expect(scheduled.stderr.contains("needs parental consent (PPRA)"))
        let script = try daemon.directory.write("asq.json", """
            [["1. In the past few weeks, have you wished you were dead?", "y"],
             ["2. In the past few weeks", "no"],
             ["3. In the past week", "n"],
             ["4. Have you ever tried", "no"],
             ["5. Are you having thoughts of killing yourself right now?", "yes"]]
            """)
        let noReason = try await daemon.cli(["screening", "administer", "asq", "--student", "stu-1-1"], environment: counselor)
        #expect(noReason.stderr.contains("only with a recorded reason"))
        let run = try await drive(daemon, script, counselor, ["screening", "administer", "asq", "--student", "stu-1-1",
                                                             "--reason", "Teacher heard the student say they want to die"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("band        acute_positive"))
        #expect(run.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("must not be left alone"))
        #expect(run.stdout.contains("acute_suicide_risk"))

        // It is on the timeline, and it raised screening.completed with its flags.
        let timeline = try await daemon.cli(["timeline", "stu-1-1"], environment: counselor)
        #expect(timeline.stdout.contains("Screening: Ask Suicide-Screening Questions (ASQ)"))
        #expect(timeline.stdout.contains("acute_positive"))
        #expect(timeline.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            .contains("Result: acute_positive; flags: suicide_risk, acute_suicide_risk, positive_screen"), "\(timeline.stdout)")
        let client = try await daemon.client()
        for try await event in try client.serverStream("haven.v1.Events", "Subscribe", Haven_V1_SubscribeRequest.with { $0.fromSequence = 1; $0.types = ["screening.completed"] },
                                                       as: Haven_V1_Event.self) {
            #expect(event.attributes["instrument"] == "asq")
            #expect(event.attributes["band"] == "acute_positive")
            #expect(event.attributes["flags"] == "suicide_risk,acute_suicide_risk,positive_screen")
            break
        }
        await client.close()
        let history = try await daemon.cli(["screening", "history", "stu-1-1", "--output", "json"], environment: counselor)
        let administrations = (try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as! [String: Any])["administrations"] as! [[String: Any]]
        let id = administrations[0]["id"] as! String
        let export = try await daemon.cli(["screening", "export", id], environment: counselor)
        let response = try JSONSerialization.jsonObject(with: Data(export.stdout.utf8)) as! [String: Any]
        #expect(response["resourceType"] as? String == "QuestionnaireResponse")
        #expect(response["status"] as? String == "completed")
        #expect((response["item"] as! [[String: Any]]).count == 5)
        // The stored result's flags travel with the export.
        for flag in ["suicide_risk", "acute_suicide_risk", "positive_screen"] {
            #expect(export.stdout.contains("\"\(flag)\""), "\(flag) missing from \(export.stdout)")
        }
        try await daemon.stop()
    }

    @Test func consentAllowsScheduledScreening() async throws {
        let (daemon, counselor) = try await daemonWithRoster()
        #expect(try await daemon.cli(["screening", "consent", "stu-1-2", "--set", "granted", "--note", "form returned"], environment: counselor).status == 0)
        let script = try daemon.directory.write("phq2.json", #"[["1. Little interest", "1"], ["2. Feeling down", "3"]]"#)
        let run = try await drive(daemon, script, counselor, ["screening", "administer", "phq-2", "--student", "stu-1-2", "--scheduled"])
        #expect(run.status == 0, "\(run.stdout)")
        #expect(run.stdout.contains("band        positive"))
        let refused = try await daemon.cli(["screening", "consent", "stu-1-2", "--set", "refused"], environment: counselor)
        #expect(refused.status == 0)
        let again = try await daemon.cli(["screening", "administer", "phq-2", "--student", "stu-1-2", "--scheduled"], environment: counselor)
        #expect(again.stderr.contains("consent for") && again.stderr.contains("is refused"))
        try await daemon.stop()
    }

    @Test func importingAQuestionnaireReportsEveryProblemOrStoresIt() async throws {
        let daemon = try await DaemonProcess().start()
        let bad = try daemon.directory.write("bad.json", #"{"resourceType": "Questionnaire", "status": "active", "item": [{"type": "choice"}]}"#)
        let refused = try await daemon.cli(["screening", "import", bad])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("$.item[0].linkId: a string is required"))
        let good = try daemon.directory.write("mood.json", """
            {"resourceType": "Questionnaire", "status": "active", "name": "mood check", "version": "2",
             "item": [{"linkId": "a", "type": "choice", "required": true, "answerOption": [
               {"valueCoding": {"code": "no"}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 0}]},
               {"valueCoding": {"code": "yes"}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 2}]}]}]}
            """)
        let imported = try await daemon.cli(["screening", "import", good])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("Imported mood-check version 2"))
        let score = try await daemon.cli(["screening", "score", "mood-check", "--answers", "yes"])
        #expect(score.stdout.contains("total       2"))
        let rules = try daemon.directory.write("rules.json", #"{"total": {"sum": ["a"]}, "bands": [{"name": "ok", "max": 0}, {"name": "check-in", "min": 1}]}"#)
        let attached = try await daemon.cli(["screening", "attach-rules", "mood-check", rules])
        #expect(attached.stdout.contains("Imported mood-check version 2-r1"), "\(attached.stdout)\(attached.stderr)")
        #expect(try await daemon.cli(["screening", "score", "mood-check", "--answers", "yes"]).stdout.contains("band        check-in"))
        try await daemon.stop()
    }
}
