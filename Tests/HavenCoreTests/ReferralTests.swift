import Foundation
import HavenProto
@testable import HavenReferrals
import HavenReferralsProto
import HavenRPCClient
import HavenScreening
import HavenScreeningProto
import HavenTestSupport
import HavenWire
import Testing

/// Routing, lifecycle and escalation, in-process with a clock the test moves.
@Suite(.serialized) struct ReferralTests {
    static let service = "haven.referrals.v1.Referrals"

    struct School {
        let h: CoreHarness
        let schoolID: String
        let ids: [String: String]
        let clients: [String: RPCClient]
        func student(_ id: String) async throws -> String { try await h.student(id).id }
        subscript(_ name: String) -> RPCClient { clients[name]! }
    }

    static func school(rules: String? = nil, duty: Bool = true) async throws -> School {
        var config = "[plugins]\nenabled = [\"screening\", \"referrals\"]\n"
        let directory = TemporaryDirectory(prefix: "rules")
        if let rules {
            let path = try directory.write("routing.toml", rules)
            config += "[plugins.referrals]\nrules = \"\(path)\"\n"
        }
        let h = try await CoreHarness.start(config: config, plugins: [ScreeningPlugin(), ReferralsPlugin()])
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 6).files)
        let school = try await h.schoolID(ofStudent: "stu-1-1")
        var ids: [String: String] = [:]
        ids["counselor"] = try await h.addStaff("Cora Counselor", [.counselor], schools: [school])
        ids["onduty"] = try await h.addStaff("Dana Duty", [.counselor], schools: [school])
        ids["lead"] = try await h.addStaff("Lee Lead", [.administrator], schools: [school])
        ids["principal"] = try await h.addStaff("Pat Principal", [.administrator], schools: [school])
        ids["teacher"] = try await h.addStaff("Tom Teacher", [.teacher], schools: [school])
        ids["sro"] = try await h.addStaff("Officer Oak", [.sro], schools: [school])
        try await h.caseload(ids["counselor"]!, [try await h.student("stu-1-1").id, try await h.student("stu-1-2").id])
        if duty {
            let _: Haven_Referrals_V1_DutyEntry = try await h.admin.unary(service, "SetDuty", Haven_Referrals_V1_SetDutyRequest.with {
                $0.schoolID = school; $0.duty = "counselor"; $0.staffID = ids["onduty"]!
            })
            let _: Haven_Referrals_V1_DutyEntry = try await h.admin.unary(service, "SetDuty", Haven_Referrals_V1_SetDutyRequest.with {
                $0.schoolID = school; $0.duty = "designated_lead"; $0.staffID = ids["lead"]!
            })
        }
        var clients: [String: RPCClient] = [:]
        for (name, id) in ids { clients[name] = try await h.client(as: id) }
        return School(h: h, schoolID: school, ids: ids, clients: clients)
    }

    func list(_ client: RPCClient, mine: Bool = true, status: String = "") async throws -> [Haven_Referrals_V1_Referral] {
        let r: Haven_Referrals_V1_ListReferralsResponse = try await client.unary(Self.service, "List", Haven_Referrals_V1_ListReferralsRequest.with { $0.mine = mine; $0.status = status })
        return r.referrals
    }

    func get(_ client: RPCClient, _ id: String) async throws -> Haven_Referrals_V1_Referral {
        try await client.unary(Self.service, "Get", Haven_Referrals_V1_GetReferralRequest.with { $0.referralID = id })
    }

    func act(_ client: RPCClient, _ method: String, _ id: String, note: String = "") async throws -> Haven_Referrals_V1_Referral {
        try await client.unary(Self.service, method, Haven_Referrals_V1_ReferralActionRequest.with { $0.referralID = id; $0.note = note })
    }

    /// Waits until the routing subscriber has created `count` referrals visible to `client`.
    func referrals(_ client: RPCClient, count: Int, mine: Bool = true) async throws -> [Haven_Referrals_V1_Referral] {
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while ContinuousClock.now < deadline {
            let found = try await list(client, mine: mine)
            if found.count >= count { return found }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await list(client, mine: mine)
    }

    func submitASQ(_ s: School, _ student: String, _ answers: [String]) async throws {
        let start: Haven_Screening_V1_Administration = try await s["counselor"].unary("haven.screening.v1.Screening", "Start", Haven_Screening_V1_StartRequest.with {
            $0.studentID = student; $0.instrumentID = "asq"; $0.reason = "a teacher heard a worrying remark"
        })
        let _: Haven_Screening_V1_Administration = try await s["counselor"].unary("haven.screening.v1.Screening", "Answer", Haven_Screening_V1_AnswerRequest.with {
            $0.administrationID = start.id
            $0.answers = zip(["1", "2", "3", "4", "5"], answers).map { a in .with { $0.linkID = a.0; $0.value = a.1 } }
        })
        let _: Haven_Screening_V1_Administration = try await s["counselor"].unary("haven.screening.v1.Screening", "Submit", Haven_Screening_V1_SubmitRequest.with { $0.administrationID = start.id })
    }

    @Test func anAcuteASQIsAnEmergencyToTheOnDutyCounselorAndTheLead() async throws {
        let s = try await Self.school()
        try await submitASQ(s, try await s.student("stu-1-1"), ["yes", "no", "no", "no", "yes"])
        let mine = try await referrals(s["onduty"], count: 1)
        #expect(mine.count == 1)
        let referral = try #require(mine.first)
        #expect(referral.priority == "emergency")
        #expect(referral.rule == "asq-acute")
        #expect(Set(referral.recipients.map(\.staffID)) == [s.ids["onduty"]!, s.ids["lead"]!])
        #expect(referral.acknowledgeBy.date.timeIntervalSince(referral.createdAt.date) == 600)
        // The stop rule means the suicide-risk rule does not also fire.
        #expect(try await list(s["counselor"], mine: false).count == 1)
        #expect(try await list(s["teacher"], mine: false).isEmpty)
        #expect(try await list(s["sro"], mine: false).isEmpty)
        // The on-duty counselor can now open the student's record through the referral.
        let explain: Haven_V1_ExplainResponse = try await s["onduty"].unary("haven.v1.Access", "Explain", Haven_V1_ExplainRequest.with { $0.studentID = referral.studentID })
        #expect(explain.allowed)
        #expect(explain.basis.kind == "assignment")
        await s.h.stop()
    }

    @Test func oneEventMakesAtMostOneReferralPerRuleHoweverOftenDelivered() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-3")
        _ = try await s["teacher"].createConcern([student], category: "weapon", severity: "high", narrative: "Said there is a knife in the bag.")
        _ = try await referrals(s["lead"], count: 1)
        // Redeliver everything: rewind the routing subscriber's cursor and restart.
        await s.h.stop()
        try AuditFile.tamper(s.h.databasePath, "UPDATE outbox_cursors SET last_seq = 0 WHERE subscriber = 'referrals/routing'")
        try await s.h.boot()
        try await Task.sleep(for: .milliseconds(500))
        let all: Haven_Referrals_V1_ListReferralsResponse = try await s.h.admin.unary(Self.service, "List", Haven_Referrals_V1_ListReferralsRequest.with { $0.status = "all" })
        _ = all
        let lead = try await s.h.client(as: s.ids["lead"]!)
        #expect(try await list(lead, status: "all").count == 1)
        await s.h.stop()
    }

    @Test func theLifecycleAllowsOnlyLegalTransitions() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-1")
        _ = try await s["teacher"].createConcern([student], category: "self_harm_suicide", severity: "high", narrative: "Cuts on arm.")
        let referral = try #require(try await referrals(s["counselor"], count: 1).first)
        #expect(referral.rule == "self-harm-concern")
        // Not a recipient: may not act.
        #expect(await statusOf { _ = try await act(s["teacher"], "Acknowledge", referral.id) }?.code == .permissionDenied)
        // Closing before acknowledging is refused.
        let early = await statusOf {
            let _: Haven_Referrals_V1_Referral = try await s["counselor"].unary(Self.service, "Close", Haven_Referrals_V1_CloseReferralRequest.with {
                $0.referralID = referral.id; $0.disposition = "resolved"; $0.note = "n"
            })
        }
        #expect(early?.code == .failedPrecondition)
        let acked = try await act(s["counselor"], "Acknowledge", referral.id)
        #expect(acked.status == "acknowledged" && acked.ownerID == s.ids["counselor"]!)
        #expect(await statusOf { _ = try await act(s["counselor"], "Acknowledge", referral.id) }?.code == .failedPrecondition)
        let started = try await act(s["counselor"], "Start", referral.id)
        #expect(started.status == "in_progress")
        let noNote = await statusOf {
            let _: Haven_Referrals_V1_Referral = try await s["counselor"].unary(Self.service, "Close", Haven_Referrals_V1_CloseReferralRequest.with { $0.referralID = referral.id; $0.disposition = "resolved" })
        }
        #expect(noNote?.code == .invalidArgument)
        let badDisposition = await statusOf {
            let _: Haven_Referrals_V1_Referral = try await s["counselor"].unary(Self.service, "Close", Haven_Referrals_V1_CloseReferralRequest.with { $0.referralID = referral.id; $0.disposition = "done"; $0.note = "x" })
        }
        #expect(badDisposition?.code == .invalidArgument)
        let ext: Haven_Referrals_V1_Referral = try await s["counselor"].unary(Self.service, "AddExternal", Haven_Referrals_V1_AddExternalRequest.with {
            $0.referralID = referral.id; $0.provider = "Riverbend Family Counselling"
        })
        let external = try #require(ext.external.first)
        let updated: Haven_Referrals_V1_Referral = try await s["counselor"].unary(Self.service, "UpdateExternal", Haven_Referrals_V1_UpdateExternalRequest.with {
            $0.referralID = referral.id; $0.externalID = external.id; $0.status = "first_appointment"
        })
        #expect(updated.external.first?.status == "first_appointment")
        let closed: Haven_Referrals_V1_Referral = try await s["counselor"].unary(Self.service, "Close", Haven_Referrals_V1_CloseReferralRequest.with {
            $0.referralID = referral.id; $0.disposition = "referred_external"; $0.note = "Family engaged with outside counselling."
        })
        #expect(closed.status == "closed")
        #expect(closed.history.map(\.kind) == ["created", "acknowledged", "started", "external", "closed"])
        #expect(await statusOf { _ = try await act(s["counselor"], "Start", referral.id) }?.code == .failedPrecondition)
        // It is on the timeline.
        #expect(try await s["counselor"].timeline(student).entries.contains { $0.kind == "referral" && $0.title.contains("closed (referred_external)") })
        await s.h.stop()
    }

    @Test func reassignmentKeepsHistoryAndInvolvingAnSROIsRecorded() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-4")
        _ = try await s["teacher"].createConcern([student], category: "threat_of_violence", severity: "high", narrative: "Threatened another student.")
        let referral = try #require(try await referrals(s["lead"], count: 1).first)
        let assigned: Haven_Referrals_V1_Referral = try await s["lead"].unary(Self.service, "Assign", Haven_Referrals_V1_AssignReferralRequest.with {
            $0.referralID = referral.id; $0.staffID = s.ids["sro"]!; $0.reason = "Threat assessment team decided to involve the SRO."
        })
        #expect(assigned.ownerID == s.ids["sro"]!)
        #expect(assigned.history.last?.note.hasPrefix("law enforcement involved (a human decision)") == true)
        // The SRO now sees it through the referral.
        #expect(try await get(s["sro"], referral.id).id == referral.id)
        let log: Haven_V1_AuditLogResponse = try await s.h.admin.unary("haven.v1.Audit", "Log", Haven_V1_AuditLogRequest.with { $0.studentID = student })
        #expect(log.entries.contains { $0.action == "referral.assigned.law_enforcement" })
        await s.h.stop()
    }

    @Test func escalationFiresOnTimeAndTellsTheReporter() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-5")
        let concern = try await s["teacher"].createConcern([student], category: "self_harm_suicide", severity: "imminent",
                                                            narrative: "Said goodbye to friends.", toldLead: "no").concerns[0]
        let referral = try #require(try await referrals(s["onduty"], count: 1).first)
        #expect(referral.priority == "emergency")
        #expect(referral.sourceID == concern.id)
        s.h.clock.advance(by: 5 * 60)
        try await tick(s)
        let before = try await get(s["onduty"], referral.id)
        #expect(!before.overdue && before.escalationLevel == 0)
        s.h.clock.advance(by: 5 * 60 + 1)
        try await tick(s)
        let escalated = try await get(s["onduty"], referral.id)
        #expect(escalated.overdue)
        #expect(escalated.escalationLevel == 1)
        #expect(escalated.recipients.contains { $0.staffID == s.ids["principal"]! && $0.level == 1 })
        #expect(escalated.history.map(\.kind).contains("escalated"))
        let notes: Haven_V1_ListNotificationsResponse = try await s["teacher"].unary("haven.v1.Notifications", "List", Haven_V1_ListNotificationsRequest())
        #expect(notes.notifications.contains { $0.kind == "referral.overdue" && $0.subjectID == referral.id })
        // Acknowledged: no further escalation.
        _ = try await act(s["principal"], "Acknowledge", referral.id)
        s.h.clock.advance(by: 3600)
        try await tick(s)
        let after = try await get(s["principal"], referral.id)
        #expect(after.escalationLevel == 1 && after.status == "acknowledged")
        await s.h.stop()
    }

    /// Fires what is due now. (The scheduler also runs by itself every second,
    /// so the tests check state, not how many things this call fired.)
    func tick(_ s: School) async throws {
        let plugin = s.h.plugins.compactMap { $0 as? ReferralsPlugin }.first
        guard let engine = plugin?.engineBox.engine.withLock({ $0 }) else { throw TestFailure("no referral engine") }
        try await engine.tick()
    }

    @Test func nobodyOnDutyFallsBackToTheLadderAndSaysSo() async throws {
        let s = try await Self.school(duty: false)
        let student = try await s.student("stu-1-1")
        try await submitASQ(s, student, ["no", "yes", "no", "no", "yes"])
        let referral = try #require(try await referrals(s["principal"], count: 1).first)
        #expect(referral.escalationLevel == 1)
        let detail = try await get(s["principal"], referral.id)
        #expect(detail.history.contains { $0.note.contains("nobody is on duty as counselor") })
        #expect(detail.history.contains { $0.note.contains("added the next step of the ladder now") })
        await s.h.stop()
    }

    @Test func declineReroutesToTheNextStep() async throws {
        let s = try await Self.school()
        let student = try await s.student("stu-1-1")
        _ = try await s["teacher"].createConcern([student], category: "self_harm_suicide", severity: "moderate", narrative: "n")
        let referral = try #require(try await referrals(s["counselor"], count: 1).first)
        #expect(await statusOf { _ = try await act(s["counselor"], "Decline", referral.id) }?.code == .invalidArgument)
        let declined = try await act(s["counselor"], "Decline", referral.id, note: "On leave this week")
        #expect(declined.recipients.contains { $0.staffID == s.ids["lead"]! && $0.level == 1 })
        await s.h.stop()
    }
}

/// Rule files: validation with rule, key and line; explain; reload keeps the old rules.
@Suite(.serialized) struct RoutingRuleTests {
    @Test func everyProblemIsReportedWithRuleKeyAndLine() {
        let text = """
            [teams.tat]
            members = ["role:sro"]

            [[rule]]
            name = "a"
            events = ["concern.created"]
            to = ["role:counselor"]
            priority = "asap"
            acknowledge_within = "soonish"

            [[rule]]
            name = "a"
            events = ["screening.completed"]
            to = ["team:missing", "on_duty:janitor", "role:sro"]
            priority = "urgent"
            acknowledge_within = "1h"
            colour = "red"
            """
        do {
            _ = try RoutingRulesLoader.parse(text: text, name: "routing.toml")
            Issue.record("a bad file loaded")
        } catch {
            let p = error.problems
            let summary = p.map { "\($0.line ?? 0) \($0.rule) \($0.key)" }
            #expect(summary.contains("2  teams.tat.members"))
            #expect(summary.contains("8 a priority"))
            #expect(summary.contains("9 a acknowledge_within"))
            #expect(summary.contains("12 a name"))
            #expect(summary.contains("14 a to"))
            #expect(summary.contains("17 a colour"))
            #expect(p.contains { $0.message.contains("no rule may route to a school resource officer") })
            #expect(p.contains { $0.message.contains("there is no team \"missing\"") })
        }
    }

    @Test func theDefaultRulesLoadAndRouteNobodyToAnSRO() throws {
        let rules = try RoutingRulesLoader.parse(text: DefaultRoutingRules.text, name: "default")
        #expect(rules.rules.map(\.name) == ["asq-acute", "imminent-concern", "suicide-risk", "self-harm-concern", "threat-or-weapon", "routine-positive"])
        for rule in rules.rules { #expect(!rule.targets.contains(.role(.sro))) }
    }

    @Test func matchingUsesTheEventsCodesAndStops() throws {
        let rules = try RoutingRulesLoader.parse(text: DefaultRoutingRules.text, name: "default")
        func event(_ type: String, _ attributes: [String: String]) -> DomainEventProbe { DomainEventProbe(type: type, attributes: attributes) }
        let acute = event("screening.completed", ["instrument": "asq", "flags": "suicide_risk,acute_suicide_risk,positive_screen"]).event
        let matched = rules.rules.filter { $0.match(acute).matched }.map(\.name)
        #expect(matched == ["asq-acute", "suicide-risk", "routine-positive"])
        let item9 = event("screening.completed", ["instrument": "phq-a", "flags": "suicide_risk"]).event
        #expect(rules.rules.first { $0.match(item9).matched }?.name == "suicide-risk")
        let weapon = event("concern.created", ["category": "weapon", "severity": "high"]).event
        #expect(rules.rules.first { $0.match(weapon).matched }?.name == "threat-or-weapon")
        let imminent = event("concern.created", ["category": "bullying", "severity": "imminent"]).event
        #expect(rules.rules.first { $0.match(imminent).matched }?.priority == .emergency)
        let low = event("concern.created", ["category": "attendance", "severity": "low"]).event
        #expect(rules.rules.allSatisfy { !$0.match(low).matched })
        // Routing matches without explaining; the outcome is the same, and
        // only an explanation carries reasons.
        let flagsAll = try RoutingRulesLoader.parse(text: """
            [[rule]]
            name = "both-flags"
            events = ["screening.completed"]
            flags_all = ["suicide_risk", "positive_screen"]
            to = ["role:counselor"]
            priority = "urgent"
            acknowledge_within = "1h"
            """, name: "test").rules
        for probe in [acute, item9, weapon, imminent, low] {
            for rule in rules.rules + flagsAll {
                let explained = rule.match(probe)
                let routed = rule.match(probe, explaining: false)
                #expect(routed.matched == explained.matched, "\(rule.name) on \(probe.type)")
                #expect(routed.reasons.isEmpty)
                #expect(!explained.reasons.isEmpty)
            }
        }
    }

    @Test func explainAndReloadThroughTheService() async throws {
        let directory = TemporaryDirectory(prefix: "rules")
        let path = try directory.write("routing.toml", DefaultRoutingRules.text)
        let h = try await CoreHarness.start(config: "[plugins]\nenabled = [\"referrals\"]\n[plugins.referrals]\nrules = \"\(path)\"\n", plugins: [ReferralsPlugin()])
        let explain: Haven_Referrals_V1_ExplainRoutingResponse = try await h.admin.unary(ReferralTests.service, "ExplainRouting", Haven_Referrals_V1_ExplainRoutingRequest.with {
            $0.eventJson = #"{"type": "screening.completed", "attributes": {"instrument": "asq", "flags": ["suicide_risk", "acute_suicide_risk"]}}"#
        })
        #expect(explain.referralsThatWouldBeCreated == 1)
        #expect(explain.rules.first { $0.rule == "asq-acute" }?.matched == true)
        #expect(explain.rules.first { $0.rule == "suicide-risk" }?.reasons.first?.contains("stop = true") == true)
        // A broken file is refused; the rules in force stay.
        try "[[rule]]\nname = \"x\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let refused: Haven_Referrals_V1_ReloadRulesResponse = try await h.admin.unary(ReferralTests.service, "ReloadRules", Haven_Referrals_V1_ReloadRulesRequest())
        #expect(!refused.reloaded)
        #expect(refused.rules == 6)
        #expect(refused.problems.contains { $0.rule == "x" && $0.key == "events" })
        let rules: Haven_Referrals_V1_ListRulesResponse = try await h.admin.unary(ReferralTests.service, "ListRules", Haven_Referrals_V1_ListRulesRequest())
        #expect(rules.rules.count == 6)
        await h.stop()
    }
}

import HavenPluginAPI
struct DomainEventProbe {
    let type: String
    let attributes: [String: String]
    var event: DomainEvent {
        DomainEvent(sequence: 1, id: "e1", type: type, occurredAt: Date(), studentID: "s", schoolID: "sch", subjectID: "x", originNode: "n", attributes: attributes)
    }
}
