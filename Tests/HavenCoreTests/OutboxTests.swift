import Foundation
import GRDB
@testable import HavenCore
import HavenPluginAPI
import HavenProto
import HavenRPCClient
import HavenStorage
import HavenTestSupport
import HavenLocking
import Testing

/// A plugin whose only job is to record the events it is given, and to
/// fail on command, to test delivery.
final class RecordingPlugin: HavenPlugin, @unchecked Sendable {
    let received = Locked<[Int64]>([])
    let events = Locked<[DomainEvent]>([])
    let failOn = Locked<Set<Int64>>([])

    var manifest: PluginManifest { PluginManifest(id: "recorder", version: "1", description: "records events", services: []) }

    func activate(_ context: PluginContext) async throws -> PluginActivation {
        PluginActivation(eventSubscriptions: [
            EventSubscription(name: "all", types: ["concern.created"]) { [self] event in
                if self.failOn.withLock({ $0.contains(event.sequence) }) { throw TestFailure("told to fail on \(event.sequence)") }
                self.received.withLock { $0.append(event.sequence) }
                self.events.withLock { $0.append(event) }
            },
        ])
    }
}

@Suite(.serialized) struct OutboxTests {
    @Test func eventsAreWrittenWithTheChangeAndDeliveredInOrderToSubscribers() async throws {
        let recorder = RecordingPlugin()
        let h = try await CoreHarness.start(config: "[plugins]\nenabled = [\"recorder\"]\n", plugins: [recorder])
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 3).files)
        let student = try await h.student("stu-1-1").id
        for _ in 0..<5 { _ = try await h.admin.createConcern([student]) }
        try await waitFor { recorder.received.withLock { $0.count } == 5 }
        let seqs = recorder.received.withLock { $0 }
        #expect(seqs == seqs.sorted())
        await h.stop()
    }

    /// Subscribers read events by column position from one cached statement,
    /// their types bound as a JSON array: every column must land in its field.
    @Test func aSubscriberGetsEveryFieldOfEveryEventOfItsTypesAndNoOthers() async throws {
        let recorder = RecordingPlugin()
        let h = try await CoreHarness.start(config: "[plugins]\nenabled = [\"recorder\"]\n", plugins: [recorder])
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 3).files)  // roster.imported: not subscribed
        let student = try await h.student("stu-1-1")
        let created = try await h.admin.createConcern([student.id], category: "bullying", severity: "high")
        let concern = try #require(created.concerns.first)
        try await waitFor { recorder.events.withLock { $0.count } == 1 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(recorder.events.withLock { $0.count } == 1, "only the subscribed type arrives")
        let event = try #require(recorder.events.withLock { $0.first })
        await h.stop()

        let row = try await DatabaseQueue(path: h.databasePath).read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM outbox WHERE type = 'concern.created'")
        }
        let stored = try #require(row)
        #expect(event.sequence == stored["seq"])
        #expect(event.id == stored["id"])
        #expect(event.type == "concern.created")
        #expect(event.occurredAt == StoredTime.date(stored["occurred_at"]))
        #expect(event.studentID == student.id)
        #expect(event.schoolID == student.schoolID)
        #expect(event.subjectID == concern.id)
        #expect(event.originNode == stored["origin_node"])
        #expect(event.id != event.originNode)
        #expect(event.attributes["category"] == "bullying")
        #expect(event.attributes["severity"] == "high")
        #expect(event.attributes["incident_id"] == created.incidentID)
    }

    /// `Outbox.events` on the daemon's own schema: any set of types (one
    /// statement for all of them), the limit, and a cursor past the end.
    @Test func eventsAreReadByTypeInOrderUpToTheLimit() async throws {
        let h = try await CoreHarness.start()
        await h.stop()
        let queue = try DatabaseQueue(path: h.databasePath)
        let types = ["a.one", "b.two", "it's \"quoted\"", "ünïcode.✓", "a.one"]
        let first = try await queue.write { db -> Int64 in
            let before = try Outbox.head(db)
            for (index, type) in types.enumerated() {
                try db.execute(sql: """
                    INSERT INTO outbox (id, type, occurred_at, student_id, school_id, subject_id, origin_node, attributes)
                    VALUES (?, ?, ?, ?, NULL, ?, 'node-x', ?)
                    """, arguments: ["ev-\(index)", type, 1_000 + index, index.isMultiple(of: 2) ? "stu-\(index)" : nil, "sub-\(index)",
                                     #"{"n":"\#(index)","quote":"say \"hi\""}"#])
            }
            return before + 1
        }
        try await queue.read { db in
            func ids(_ types: Set<String>, after: Int64 = first - 1, limit: Int = 100) throws -> [String] {
                try Outbox.events(db, after: after, types: types, limit: limit).map(\.id)
            }
            #expect(try ids([]) == ["ev-0", "ev-1", "ev-2", "ev-3", "ev-4"])
            #expect(try ids(["a.one"]) == ["ev-0", "ev-4"])
            #expect(try ids(["a.one", "ünïcode.✓", "absent"]) == ["ev-0", "ev-3", "ev-4"])
            #expect(try ids(["it's \"quoted\""]) == ["ev-2"])
            #expect(try ids(["absent"]) == [])
            #expect(try ids(["a.one", "b.two"], limit: 2) == ["ev-0", "ev-1"])
            #expect(try ids(["a.one"], after: first) == ["ev-4"])
            #expect(try ids([], after: first + 10) == [])
            let third = try #require(try Outbox.events(db, after: first + 1, types: [], limit: 1).first)
            #expect(third.sequence == first + 2)
            #expect(third.type == "it's \"quoted\"")
            #expect(third.occurredAt == StoredTime.date(1_002))
            #expect(third.studentID == "stu-2")
            #expect(third.schoolID == nil)
            #expect(third.subjectID == "sub-2")
            #expect(third.originNode == "node-x")
            #expect(third.attributes == ["n": "2", "quote": "say \"hi\""])
            #expect(try Outbox.events(db, after: first, types: [], limit: 1).first?.studentID == nil)
        }
    }

    @Test func aFailingSubscriberIsRetriedFromTheSameEvent() async throws {
        let recorder = RecordingPlugin()
        let h = try await CoreHarness.start(config: "[plugins]\nenabled = [\"recorder\"]\n", plugins: [recorder])
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 3).files)
        let student = try await h.student("stu-1-1").id
        _ = try await h.admin.createConcern([student])
        try await waitFor { recorder.received.withLock { $0.count } == 1 }
        let next = recorder.received.withLock { $0[0] } + 2  // roster.imported is not subscribed; concern events follow
        recorder.failOn.withLock { $0 = [next - 1, next, next + 1] }
        _ = try await h.admin.createConcern([student])
        _ = try await h.admin.createConcern([student])
        try await Task.sleep(for: .milliseconds(300))
        #expect(recorder.received.withLock { $0.count } == 1, "nothing is skipped while the subscriber fails")
        recorder.failOn.withLock { $0 = [] }
        try await waitFor(seconds: 10) { recorder.received.withLock { $0.count } == 3 }
        await h.stop()
    }

    @Test func afterAStopMidStreamEveryEventReachesEverySubscriber() async throws {
        let recorder = RecordingPlugin()
        let h = try await CoreHarness.start(config: "[plugins]\nenabled = [\"recorder\"]\n", plugins: [recorder])
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 3).files)
        let student = try await h.student("stu-1-1").id
        // The subscriber is failing when the daemon goes down, so events are pending.
        recorder.failOn.withLock { $0 = Set(0...1000) }
        var created: [String] = []
        for _ in 0..<6 { created.append(try await h.admin.createConcern([student]).concerns[0].id) }
        await h.stop()
        recorder.failOn.withLock { $0 = [] }
        try await h.boot()
        try await waitFor { recorder.received.withLock { $0.count } == 6 }
        await h.stop()
    }
}

func waitFor(seconds: Double = 5, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("condition not met within \(seconds)s") }
        try await Task.sleep(for: .milliseconds(20))
    }
}
