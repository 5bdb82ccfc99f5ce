import Foundation
import HavenProto
import HavenReferralsProto
import HavenRPCClient
import HavenScreeningProto
import HavenTestSupport
import Testing

/// Routing end to end against real havend processes: the ASQ path, and
/// deadlines that survive SIGKILL.
@Suite(.serialized) struct ReferralFlowTests {
    @Test func anASQWithQuestionFiveYesReachesTheOnDutyCounselorWithinASecond() async throws {
        let daemon = try await DaemonProcess().start()
        let tokens = try await daemon.seedSchool()
        let counselor = try await daemon.client(metadata: [("authorization", "Bearer \(tokens["counselor"]!)")])
        let start: Haven_Screening_V1_Administration = try await counselor.unary("haven.screening.v1.Screening", "Start", Haven_Screening_V1_StartRequest.with {
            $0.studentID = "stu-1-2"; $0.instrumentID = "asq"; $0.reason = "said they want to die"
        })
        let _: Haven_Screening_V1_Administration = try await counselor.unary("haven.screening.v1.Screening", "Answer", Haven_Screening_V1_AnswerRequest.with {
            $0.administrationID = start.id
            $0.answers = zip(["1", "2", "3", "4", "5"], ["no", "yes", "no", "no", "yes"]).map { a in .with { $0.linkID = a.0; $0.value = a.1 } }
        })
        let submitted: Haven_Screening_V1_Administration = try await counselor.unary("haven.screening.v1.Screening", "Submit", Haven_Screening_V1_SubmitRequest.with { $0.administrationID = start.id })
        // The counselor sees it with the CLI. Polled without a tight
        // deadline: how long the CLI takes to start is the test machine's,
        // not Haven's (a wall-clock bound around it failed under load).
        var listed = ""
        let patience = ContinuousClock.now.advanced(by: .seconds(30))
        while !listed.contains("emergency") && ContinuousClock.now < patience {
            listed = try await daemon.cli(["referral", "list", "--mine"], environment: ["HAVEN_TOKEN": tokens["counselor"]!]).stdout
        }
        #expect(listed.contains("emergency"))
        #expect(listed.contains("asq-acute"))
        // Within a second, by the daemon's own record: the referral was
        // made less than a second after the screening was submitted.
        let mine: Haven_Referrals_V1_ListReferralsResponse = try await counselor.unary("haven.referrals.v1.Referrals", "List", Haven_Referrals_V1_ListReferralsRequest.with { $0.mine = true })
        let referral = try #require(mine.referrals.first { $0.sourceID == start.id }, "no referral from the screening: \(mine.referrals)")
        #expect(referral.rule == "asq-acute")
        #expect(referral.priority == "emergency")
        let routedAfter = referral.createdAt.date.timeIntervalSince(submitted.submittedAt.date)
        #expect(routedAfter >= 0 && routedAfter < 1, "routed \(routedAfter) s after the submission")
        let teacher = try await daemon.cli(["referral", "list"], environment: ["HAVEN_TOKEN": tokens["teacher"]!])
        #expect(teacher.status == 0)
        #expect(teacher.stdout.contains("No referrals."))
        await counselor.close()
        try await daemon.stop()
    }

    @Test func anEscalationDueWhileTheDaemonWasDownFiresAtOnceOnRestart() async throws {
        let directory = TemporaryDirectory(prefix: "havend")
        let config = try Self.imminentRouting(in: directory, acknowledgeWithin: "3s", rest: """
              [[rule.escalate]]
              after = "3s"
              to = ["on_duty:designated_lead"]
            """)
        let daemon = try await DaemonProcess(arguments: ["--config", config], directory: directory).start()
        let tokens = try await daemon.seedSchool()
        let added = try await daemon.cli(["concern", "add", "--student", "stu-1-1", "--category", "self_harm_suicide", "--severity", "imminent",
                                          "--narrative", "Said goodbye to friends", "--told-lead", "yes"], environment: ["HAVEN_TOKEN": tokens["teacher"]!])
        #expect(added.status == 0, "\(added.stderr)")
        // Wait for the referral, then kill the daemon before its deadline.
        var referral = ""
        for _ in 0..<50 {
            let r = try await daemon.cli(["referral", "list", "--mine", "--output", "json"], environment: ["HAVEN_TOKEN": tokens["counselor"]!])
            if let list = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["referrals"] as? [[String: Any]], let first = list.first {
                referral = first["id"] as! String
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!referral.isEmpty)
        try await daemon.stop(signal: SIGKILL)
        try await Task.sleep(for: .seconds(4))   // the deadline passes while it is down
        let restartedAt = Date()
        try await daemon.start()
        var escalated = false
        let patience = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < patience, !escalated {
            let shown = try await daemon.cli(["referral", "show", referral, "--output", "json"], environment: ["HAVEN_TOKEN": tokens["lead"]!])
            if shown.status == 0, let r = try? JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any],
               (r["history"] as? [[String: Any]])?.contains(where: { $0["kind"] as? String == "escalated" }) == true {
                escalated = true
                #expect(r["overdue"] as? Bool == true)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(escalated, "the escalation fired after the restart")
        // Within three seconds of the restart, by the daemon's record of
        // when it escalated (the CLI's own start-up is not Haven's time).
        let lead = try await daemon.client(metadata: [("authorization", "Bearer \(tokens["lead"]!)")])
        let shown: Haven_Referrals_V1_Referral = try await lead.unary("haven.referrals.v1.Referrals", "Get", Haven_Referrals_V1_GetReferralRequest.with { $0.referralID = referral })
        let escalation = try #require(shown.history.first { $0.kind == "escalated" })
        let after = escalation.at.date.timeIntervalSince(restartedAt)
        #expect(after >= 0 && after < 3, "escalated \(after) s after the restart began")
        await lead.close()
        try await daemon.stop()
    }

    @Test func anEmergencyRunsTheNotifyCommandWithIdsAndNoNarrativeAndNoneOfTheDaemonsFiles() async throws {
        let directory = TemporaryDirectory(prefix: "havend")
        let received = directory.file("received")
        let command = try directory.write("notify.sh", """
            #!/bin/sh
            # What a school's notify command sees: its environment and open files.
            env | grep '^HAVEN_' | sort > "\(received).tmp"
            ls -l /proc/$$/fd >> "\(received).tmp"
            mv "\(received).tmp" "\(received)"
            """)
        chmod(command, 0o755)
        let config = try Self.imminentRouting(in: directory, acknowledgeWithin: "10m", referrals: "notify_command = \"\(command)\"")
        let daemon = try await DaemonProcess(arguments: ["--config", config], directory: directory).start()
        let tokens = try await daemon.seedSchool()
        let narrative = "Gave away belongings and said goodbye (synthetic)"
        let added = try await daemon.cli(["concern", "add", "--student", "stu-1-1", "--category", "self_harm_suicide", "--severity", "imminent",
                                          "--narrative", narrative, "--told-lead", "yes"], environment: ["HAVEN_TOKEN": tokens["teacher"]!])
        #expect(added.status == 0, "\(added.stderr)")
        let patience = ContinuousClock.now.advanced(by: .seconds(30))
        while !FileManager.default.fileExists(atPath: received) && ContinuousClock.now < patience { try await Task.sleep(for: .milliseconds(20)) }
        let seen = try String(contentsOfFile: received, encoding: .utf8)
        #expect(seen.contains("HAVEN_PRIORITY=emergency"))
        #expect(seen.contains("HAVEN_NOTIFICATION=referral.created"), "\(seen)")
        // The ids are the referral's and its student's (Haven's own ids, not names).
        let counselor = try await daemon.client(metadata: [("authorization", "Bearer \(tokens["counselor"]!)")])
        let mine: Haven_Referrals_V1_ListReferralsResponse = try await counselor.unary("haven.referrals.v1.Referrals", "List", Haven_Referrals_V1_ListReferralsRequest.with { $0.mine = true })
        await counselor.close()
        let referral = try #require(mine.referrals.first, "the counselor received no referral")
        #expect(seen.contains("HAVEN_REFERRAL_ID=\(referral.id)\n"), "\(seen)")
        #expect(seen.contains("HAVEN_STUDENT_ID=\(referral.studentID)\n"), "\(seen)")
        #expect(!seen.contains("goodbye"), "the narrative reached the command")
        #expect(!seen.contains("socket:") && !seen.contains("haven.sqlite"), "the command holds the daemon's files:\n\(seen)")
        try await daemon.stop()
    }

    /// A config whose one routing rule sends every imminent concern to the
    /// on-duty counselor as an emergency; `rest` follows the rule's keys,
    /// `referrals` goes in `[plugins.referrals]`.
    static func imminentRouting(in directory: TemporaryDirectory, acknowledgeWithin: String, rest: String = "", referrals: String = "") throws -> String {
        let rules = try directory.write("routing.toml", """
            [[rule]]
            name = "imminent"
            events = ["concern.created"]
            severities = ["imminent"]
            to = ["on_duty:counselor"]
            priority = "emergency"
            acknowledge_within = "\(acknowledgeWithin)"
            \(rest)
            """)
        return try directory.write("havend.toml", """
            [plugins]
            enabled = ["screening", "referrals"]
            [plugins.referrals]
            rules = "\(rules)"
            \(referrals)
            """)
    }
}
