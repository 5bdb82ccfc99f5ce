import Foundation
import HavenPluginAPI
import Synchronization

/// A clock the test moves by hand, so grants expire and deadlines pass
/// without waiting.
public final class ManualClock: HavenClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date()) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}
