import Foundation
import HavenStorage
import HavenLocking

/// Answers Health. A monitor may call Health thousands of times a second;
/// one real database query per second answers them all (a failure is seen
/// within that second), and the encoded answer is reused for that second.
final class HealthProbe: Sendable {
    private let database: HavenDatabase
    private let maxAge: Duration
    private let build: @Sendable (_ databaseProblem: String?) -> [UInt8]
    private let last = Locked<(at: ContinuousClock.Instant, answer: [UInt8])?>(nil)

    /// `build` encodes a HealthResponse given the database check's outcome.
    init(database: HavenDatabase, maxAge: Duration = .seconds(1), build: @escaping @Sendable (_ databaseProblem: String?) -> [UInt8]) {
        self.database = database
        self.maxAge = maxAge
        self.build = build
    }

    /// The answer of the last second, if there is one (no waiting).
    func recentAnswer(now: ContinuousClock.Instant = .now) -> [UInt8]? {
        guard let recent = last.withLock({ $0 }), now - recent.at < maxAge else { return nil }
        return recent.answer
    }

    func answer() async -> [UInt8] {
        let now = ContinuousClock.now
        if let recent = recentAnswer(now: now) { return recent }
        var problem: String?
        do { try await database.ping() } catch { problem = "\(error)" }
        let answer = build(problem)
        last.withLock { $0 = (now, answer) }
        return answer
    }
}
