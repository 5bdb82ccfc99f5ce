#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value that threads share, guarded by a pthread mutex.
///
/// Haven uses this rather than `Synchronization.Mutex`: on Linux that lock
/// is built on raw futexes, which ThreadSanitizer cannot see, so every access
/// under it is reported as a data race and a sanitizer run drowns real races
/// in false ones (Docs/reliability.md, "Sanitizers"). A pthread mutex is
/// intercepted by every sanitizer and costs the same uncontended.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock. Keep `body` short and
    /// never await or take another `Locked` inside it.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
