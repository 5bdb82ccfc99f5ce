import Foundation
import GRDB
import Logging
import Synchronization

/// Runs write transactions so that concurrent callers share commits (group
/// commit) without anyone being told "saved" before the commit is on disk.
///
/// Each caller's work runs in its own savepoint inside one transaction; a
/// caller whose work throws is rolled back alone and gets its error. When the
/// transaction commits (an fsync under `synchronous=FULL`), every caller in
/// the batch is resumed. While one batch commits, the next one gathers, so a
/// lone writer waits for nobody and many writers pay for few fsyncs.
public final class DurableWriter: Sendable {
    private struct Entry: Sendable {
        /// Runs the caller's work in a savepoint and records its outcome.
        let work: @Sendable (Database) -> Void
        /// Resumes the caller once the transaction has committed (or failed).
        let finish: @Sendable (_ commitError: Error?) -> Void
    }

    private struct State {
        var waiting: [Entry] = []
        var draining = false
    }

    private let pool: DatabasePool
    private let logger: Logger
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "haven.durable-writer")
    /// Upper bound on one batch, so one commit's latency stays bounded.
    public static let maxBatch = 256

    init(pool: DatabasePool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Runs `body` in a write transaction and returns once it is committed.
    public func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let outcome = Mutex<Result<T, Error>?>(nil)
            let entry = Entry(
                work: { db in
                    let result = Result<T, Error> {
                        var value: T?
                        try db.inSavepoint {
                            value = try body(db)
                            return .commit
                        }
                        return value!
                    }
                    outcome.withLock { $0 = result }
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.withLock { $0 }!)
                    }
                })
            let startDrainer = state.withLock { state -> Bool in
                state.waiting.append(entry)
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if startDrainer {
                queue.async { self.drain() }
            }
        }
    }

    private func drain() {
        while true {
            let batch: [Entry] = state.withLock { state in
                let batch = Array(state.waiting.prefix(Self.maxBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            var commitError: Error?
            do {
                try pool.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        for entry in batch { entry.work(db) }
                        return .commit
                    }
                }
            } catch {
                logger.error("write transaction failed to commit", metadata: ["error": "\(error)", "writes": "\(batch.count)"])
                commitError = error
            }
            for entry in batch { entry.finish(commitError) }
        }
    }
}
