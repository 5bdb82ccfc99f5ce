import Foundation
import HavenProto
import HavenRPCClient
import HavenTestSupport
import HavenWire
import Testing

@Suite(.serialized) struct ConcernLifecycleTests {
    func setUp() async throws -> (CoreHarness, counselor: RPCClient, teacher: RPCClient, student: String, other: String) {
        let h = try await CoreHarness.start()
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 6).files)
        let school = try await h.schoolID(ofStudent: "stu-1-1")
        let counselor = try await h.addStaff("Cora", [.counselor], schools: [school])
        let teacher = try await h.addStaff("Tom", [.teacher], schools: [school])
        let student = try await h.student("stu-1-1").id
        try await h.caseload(counselor, [student])
        return (h, try await h.client(as: counselor), try await h.client(as: teacher), student, try await h.student("stu-1-2").id)
    }

    @Test func createValidatesEveryFieldAndChangesNothingOnError() async throws {
        let (h, _, teacher, student, _) = try await setUp()
        let cases: [(Haven_V1_CreateConcernRequest, String)] = [
            (.with { $0.category = "bullying"; $0.severity = "low"; $0.narrative = "x" }, "student_ids"),
            (.with { $0.studentIds = [student]; $0.category = "gossip"; $0.severity = "low"; $0.narrative = "x" }, "category"),
            (.with { $0.studentIds = [student]; $0.category = "bullying"; $0.severity = "urgent"; $0.narrative = "x" }, "severity"),
            (.with { $0.studentIds = [student]; $0.category = "bullying"; $0.severity = "low"; $0.narrative = "  " }, "narrative"),
            (.with { $0.studentIds = [student]; $0.category = "bullying"; $0.severity = "imminent"; $0.narrative = "x" }, "told_lead_in_person"),
            (.with { $0.studentIds = ["nobody"]; $0.category = "bullying"; $0.severity = "low"; $0.narrative = "x" }, "nobody"),
            (.with { $0.studentIds = [student, "nobody"]; $0.category = "bullying"; $0.severity = "low"; $0.narrative = "x" }, "nobody"),
            // A NUL would be stored cut short (SQLite binds text as a C string): refused, naming the field.
            (.with { $0.studentIds = [student]; $0.category = "bullying"; $0.severity = "low"; $0.narrative = "Pushed\u{0}in line" }, "narrative: text may not contain a NUL"),
            (.with { $0.studentIds = [student]; $0.category = "bullying"; $0.severity = "low"; $0.narrative = "x"; $0.location = "Room 4\u{0}" }, "location: text may not contain a NUL"),
            (.with { $0.studentIds = [student, "stu\u{0}"]; $0.category = "bullying"; $0.severity = "low"; $0.narrative = "x" }, "student_ids[1]: text may not contain a NUL"),
            // A message SwiftProtobuf cannot write as JSON (a timestamp out of range) is still walked.
            (.with {
                $0.studentIds = [student]; $0.category = "bullying"; $0.severity = "low"; $0.narrative = "Pushed\u{0}in line"
                $0.observedAt = .with { $0.seconds = 0; $0.nanos = -1 }
            }, "text may not contain a NUL"),
            (.with {
                $0.studentIds = [student]; $0.category = "bullying"; $0.severity = "low"; $0.narrative = "x"
                $0.observedAt = .with { $0.seconds = 0; $0.nanos = -1 }
            }, "observed_at: not a valid time"),
        ]
        for (request, mentions) in cases {
            let status = await statusOf { let _: Haven_V1_CreateConcernResponse = try await teacher.unary("haven.v1.Concerns", "Create", request) }
            #expect(status?.code == .invalidArgument || status?.code == .notFound)
            #expect(status?.message.contains(mentions) == true, "\(status?.message ?? "")")
        }
        // The two-student request with one unknown student wrote neither.
        #expect(try await teacher.listConcerns().concerns.isEmpty)
        await h.stop()
    }

    @Test func anImminentConcernTellsTheReporterWhatToDoNow() async throws {
        let (h, _, teacher, student, _) = try await setUp()
        let r = try await teacher.createConcern([student], category: "self_harm_suicide", severity: "imminent", narrative: "Said goodbye.", toldLead: "no")
        #expect(r.guidance.contains("IMMINENT"))
        #expect(r.guidance.contains("have not told a designated lead"))
        #expect(r.concerns[0].toldLeadInPerson == "no")
        await h.stop()
    }

    @Test func oneReportAboutSeveralStudentsSharesAnIncident() async throws {
        let (h, _, teacher, student, other) = try await setUp()
        let r = try await teacher.createConcern([student, other], category: "bullying")
        #expect(r.concerns.count == 2)
        #expect(Set(r.concerns.map(\.incidentID)) == [r.incidentID])
        #expect(Set(r.concerns.map(\.studentID)) == [student, other])
        await h.stop()
    }

    @Test func amendmentsAndNotesAreAppendedAndTheOriginalStays() async throws {
        let (h, counselor, teacher, student, _) = try await setUp()
        let c = try await teacher.createConcern([student], category: "bullying", severity: "low", narrative: "Pushed in the corridor.").concerns[0]
        let amended: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "Amend", Haven_V1_AmendConcernRequest.with {
            $0.concernID = c.id; $0.field = "severity"; $0.newValue = "high"; $0.reason = "Happened three times this week"
        })
        #expect(amended.severity == "high")
        #expect(amended.originalSeverity == "low")
        let narrative: Haven_V1_Concern = try await teacher.unary("haven.v1.Concerns", "Amend", Haven_V1_AmendConcernRequest.with {
            $0.concernID = c.id; $0.field = "narrative"; $0.newValue = "Pushed into the lockers in the corridor."; $0.reason = "more precise"
        })
        #expect(narrative.narrative == "Pushed into the lockers in the corridor.")
        #expect(narrative.originalNarrative == "Pushed in the corridor.")
        let noted: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "AddNote", Haven_V1_AddNoteRequest.with { $0.concernID = c.id; $0.body = "Spoke with student." })
        #expect(noted.history.map(\.kind) == ["amendment", "amendment", "note"])
        #expect(noted.history[0].oldValue == "low" && noted.history[0].newValue == "high")
        let missingReason = await statusOf {
            let _: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "Amend", Haven_V1_AmendConcernRequest.with { $0.concernID = c.id; $0.field = "severity"; $0.newValue = "low" })
        }
        #expect(missingReason?.code == .invalidArgument)
        let badField = await statusOf {
            let _: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "Amend", Haven_V1_AmendConcernRequest.with { $0.concernID = c.id; $0.field = "reporter_id"; $0.newValue = "x"; $0.reason = "r" })
        }
        #expect(badField?.code == .invalidArgument)
        // Filters see the amended severity.
        #expect(try await counselor.listConcerns { $0.severity = "high" }.concerns.map(\.id) == [c.id])
        await h.stop()
    }

    /// The timeline shows each concern as amended (narrative, time, current
    /// severity) with its whole history in order, a concern without
    /// history on its own, and counts what a caller without the whole case
    /// may not see: another reporter's concern and each of its entries.
    @Test func theTimelineShowsEachConcernAsAmendedWithItsHistory() async throws {
        let (h, counselor, teacher, student, _) = try await setUp()
        let c1 = try await teacher.createConcern([student], category: "bullying", severity: "low", narrative: "Pushed in the corridor.").concerns[0]
        func amend(_ client: RPCClient, _ field: String, _ value: String, _ reason: String) async throws {
            let _: Haven_V1_Concern = try await client.unary("haven.v1.Concerns", "Amend", Haven_V1_AmendConcernRequest.with {
                $0.concernID = c1.id; $0.field = field; $0.newValue = value; $0.reason = reason
            })
        }
        try await amend(counselor, "severity", "high", "Three times this week")
        try await amend(teacher, "narrative", "Pushed into the lockers.", "more precise")
        try await amend(counselor, "observed_at", "2020-01-06T09:00:00Z", "It was Monday")
        try await amend(counselor, "location", "Corridor B", "where it was")
        let _: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "AddNote", Haven_V1_AddNoteRequest.with { $0.concernID = c1.id; $0.body = "Spoke with student." })
        let _: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "SetStatus", Haven_V1_SetStatusRequest.with { $0.concernID = c1.id; $0.status = "triaged" })
        let _: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "Close", Haven_V1_CloseConcernRequest.with {
            $0.concernID = c1.id; $0.disposition = "resolved"; $0.reason = "Plan in place."
        })
        let c2 = try await teacher.createConcern([student], narrative: "Quiet in class.").concerns[0]
        let c3 = try await counselor.createConcern([student], narrative: "Missed two sessions.").concerns[0]
        let _: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "AddNote", Haven_V1_AddNoteRequest.with { $0.concernID = c3.id; $0.body = "Called home." })

        let full = try await counselor.timeline(student)
        #expect(full.hiddenEntries == 0)
        let monday = StoredTimeForTests.ms("2020-01-06T09:00:00Z")
        let first = try #require(full.entries.first)
        #expect(first.kind == "concern" && first.recordID == c1.id, "the amended time puts it first")
        #expect(Int64((first.occurredAt.date.timeIntervalSince1970 * 1000).rounded()) == monday)
        #expect(first.detail == "Pushed into the lockers.")
        #expect(first.title.hasPrefix("Concern: ") && first.title.hasSuffix(" (high), reported by Tom"), "\(first.title)")
        let history = full.entries.filter { $0.recordID == c1.id && $0.kind != "concern" }
        #expect(history.map(\.kind) == ["amendment", "amendment", "amendment", "amendment", "note", "status", "status"])
        #expect(history.map(\.title) == ["Cora corrected severity", "Tom corrected narrative", "Cora corrected observed_at", "Cora corrected location",
                                          "Note by Cora", "Status: triaged by Cora", "Status: closed (resolved) by Cora"])
        #expect(history[3].detail == "(none) → Corridor B. Reason: where it was", "a location amendment leaves the concern's detail, its narrative, alone")
        // A time is shown as one (RFC 3339, to the millisecond), not as its stored ms.
        let timeChange = history[2].detail.components(separatedBy: " → ")
        #expect(timeChange.count == 2 && timeChange.last == "2020-01-06T09:00:00Z. Reason: It was Monday", "\(history[2].detail)")
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let before = try #require(fractional.date(from: timeChange[0]) ?? ISO8601DateFormatter().date(from: timeChange[0]), "\(timeChange[0])")
        #expect(Int64((before.timeIntervalSince1970 * 1000).rounded()) == Int64((c1.observedAt.date.timeIntervalSince1970 * 1000).rounded()))
        let amended = try await counselor.getConcern(c1.id).history.filter { $0.field == "observed_at" }
        #expect(amended.map(\.newValue) == ["2020-01-06T09:00:00Z"], "the protocol gives a time in the form Amend takes")
        #expect(history[0].detail == "low → high. Reason: Three times this week")
        #expect(history[1].detail == "Reason: more precise")
        #expect(history[4].detail == "Spoke with student.")
        #expect(history[6].detail == "Plan in place.")
        #expect(full.entries.filter { $0.recordID == c2.id }.map(\.kind) == ["concern"])
        #expect(full.entries.filter { $0.recordID == c3.id }.map(\.kind) == ["concern", "note"])
        let times = full.entries.map { $0.occurredAt.seconds * 1_000_000_000 + Int64($0.occurredAt.nanos) }
        #expect(times == times.sorted(), "oldest first")

        // The teacher reported c1 and c2 but does not hold the case: c3 and its note are counted, not shown.
        let own = try await teacher.timeline(student)
        #expect(Set(own.entries.map(\.recordID)) == [c1.id, c2.id])
        #expect(own.entries.count == 9)
        #expect(own.hiddenEntries == 2)
        // History may show a time with milliseconds; Amend takes it back in that form.
        try await amend(counselor, "observed_at", "2020-01-06T09:00:00.250Z", "Amend takes milliseconds too")
        await h.stop()
    }

    @Test func statusMovesForwardAndClosingNeedsADispositionAndReason() async throws {
        let (h, counselor, teacher, student, _) = try await setUp()
        let c = try await teacher.createConcern([student]).concerns[0]
        func set(_ status: String) async -> (code: StatusCode, message: String)? {
            await statusOf { let _: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "SetStatus", Haven_V1_SetStatusRequest.with { $0.concernID = c.id; $0.status = status }) }
        }
        func close(_ disposition: String, _ reason: String) async -> (code: StatusCode, message: String)? {
            await statusOf { let _: Haven_V1_Concern = try await counselor.unary("haven.v1.Concerns", "Close", Haven_V1_CloseConcernRequest.with { $0.concernID = c.id; $0.disposition = disposition; $0.reason = reason }) }
        }
        #expect(await set("open")?.code == .failedPrecondition)
        #expect(await set("closed")?.message.contains("disposition") == true)
        #expect(await set("pending")?.code == .failedPrecondition)
        #expect(await set("triaged") == nil)
        #expect(await set("triaged")?.message.contains("already") == true)
        #expect(await set("monitoring") == nil)
        #expect(await set("triaged")?.message.contains("cannot go back") == true)
        #expect(await close("", "done")?.code == .invalidArgument)
        #expect(await close("resolved", "")?.code == .invalidArgument)
        #expect(await close("made_up", "done")?.code == .invalidArgument)
        #expect(await close("resolved", "Support plan in place; family engaged.") == nil)
        #expect(await close("resolved", "again")?.code == .failedPrecondition)
        #expect(await set("triaged")?.message.contains("closed") == true)
        let final = try await counselor.getConcern(c.id)
        #expect(final.status == "closed" && final.disposition == "resolved")
        #expect(final.history.map(\.status) == ["triaged", "monitoring", "closed"])
        await h.stop()
    }

    @Test func listingFiltersAndPagesWithACursor() async throws {
        let (h, counselor, teacher, student, _) = try await setUp()
        var ids: [String] = []
        for i in 0..<7 {
            ids.append(try await teacher.createConcern([student], category: i % 2 == 0 ? "bullying" : "attendance").concerns[0].id)
            h.clock.advance(by: 1)
        }
        var seen: [String] = []
        var cursor = ""
        repeat {
            let page = try await counselor.listConcerns { $0.page = .with { $0.limit = 3; $0.cursor = cursor } }
            seen += page.concerns.map(\.id)
            cursor = page.nextCursor
        } while !cursor.isEmpty
        #expect(seen == ids.reversed())
        #expect(try await counselor.listConcerns { $0.category = "attendance" }.concerns.count == 3)
        #expect(try await counselor.listConcerns { $0.mine = true }.concerns.isEmpty)
        #expect(await statusOf { _ = try await counselor.listConcerns { $0.page = .with { $0.cursor = "garbage" } } }?.code == .invalidArgument)
        await h.stop()
    }

    @Test func everyReadAndWriteIsAuditedWithIDsNotNarrative() async throws {
        let (h, counselor, teacher, student, _) = try await setUp()
        let secret = "A very specific narrative that must never reach the audit log."
        let c = try await teacher.createConcern([student], narrative: secret).concerns[0]
        _ = try await counselor.getConcern(c.id)
        _ = try await counselor.timeline(student)
        let log: Haven_V1_AuditLogResponse = try await h.admin.unary("haven.v1.Audit", "Log", Haven_V1_AuditLogRequest.with { $0.studentID = student })
        let actions = log.entries.map(\.action)
        #expect(actions.contains("concern.create"))
        #expect(actions.contains("concern.read"))
        #expect(actions.contains("timeline.read"))
        let read = try #require(log.entries.first { $0.action == "concern.read" })
        #expect(read.recordIds == [c.id])
        #expect(read.fields.contains("narrative"))
        // Nothing in the audit table holds narrative text.
        let raw = try String(contentsOfFile: h.databasePath, encoding: .isoLatin1)
        _ = raw
        let dump = try AuditFile.dump(h.databasePath)
        #expect(!dump.contains("very specific narrative"))
        await h.stop()
    }
}

enum StoredTimeForTests {
    static func ms(_ iso: String) -> Int64 {
        Int64((ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970 * 1000).rounded())
    }
}
