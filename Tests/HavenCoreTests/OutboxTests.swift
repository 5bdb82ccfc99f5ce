import Foundation
import GRDB
import HavenCore
import HavenPluginAPI
import HavenProto
import HavenRPCClient
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
        let event = try #require(recorder.events.withLock { $0.first })
        #expect(event.type == "concern.created")
        #expect(event.subjectID == concern.id)
        #expect(event.studentID == student.id)
        #expect(event.schoolID == student.schoolID)
        #expect(!event.id.isEmpty && !event.originNode.isEmpty)
        #expect(abs(event.occurredAt.timeIntervalSince(h.clock.now())) < 1)
        #expect(event.attributes["category"] == "bullying")
        #expect(event.attributes["severity"] == "high")
        #expect(event.attributes["incident_id"] == created.incidentID)
        await h.stop()
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
