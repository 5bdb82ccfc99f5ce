import Foundation
import HavenPluginAPI
import HavenLocking

/// A clock the test moves by hand, so grants expire and deadlines pass
/// without waiting.
public final class ManualClock: HavenClock {
    private let current: Locked<Date>

    public init(_ start: Date = Date()) {
        current = Locked(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}
