import Foundation
import GRDB
import HavenPluginAPI
import HavenStorage
import Logging

/// Delivers outbox events to in-process subscribers: in sequence order, at
/// least once, with each subscriber's cursor persisted after each batch of
/// events it handled. A subscriber that throws is retried (with back-off) from the same
/// event; it never blocks the others. After a crash, delivery resumes from
/// the cursors, so every event reaches every subscriber.
public final class OutboxDispatcher: Sendable {
    public struct Subscriber: Sendable {
        /// "<plugin id>/<subscription name>"
        public let key: String
        public let subscription: EventSubscription

        public init(key: String, subscription: EventSubscription) {
            self.key = key
            self.subscription = subscription
        }
    }

    private let database: HavenDatabase
    private let signal: OutboxSignal
    private let subscribers: [Subscriber]
    private let logger: Logger

    public init(database: HavenDatabase, signal: OutboxSignal, subscribers: [Subscriber], logger: Logger) {
        self.database = database
        self.signal = signal
        self.subscribers = subscribers
        self.logger = logger
    }

    /// Gives a new subscriber a cursor at the current head, so enabling a
    /// plugin on an existing school does not replay its whole history.
    public func initializeCursors() async throws {
        let keys = subscribers.map(\.key)
        try await database.writer.write { db in
            let head = try Outbox.head(db)
            for key in keys where try Outbox.cursor(db, subscriber: key) == nil {
                try Outbox.setCursor(db, subscriber: key, sequence: head, now: StoredTime.ms(Date()))
            }
        }
    }

    /// Runs until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for subscriber in subscribers {
                group.addTask { await self.deliverForever(subscriber) }
            }
        }
    }

    /// Delivers everything pending now, for every subscriber; for tests and
    /// for start-up catch-up.
    public func deliverPending() async {
        for subscriber in subscribers {
            _ = try? await deliverBatch(subscriber)
        }
    }

    private func deliverForever(_ subscriber: Subscriber) async {
        var backoff: Duration = .milliseconds(100)
        while !Task.isCancelled {
            let generation = signal.current
            do {
                let delivered = try await deliverBatch(subscriber)
                backoff = .milliseconds(100)
                if delivered > 0 { continue }
                await signal.wait(after: generation, timeout: .seconds(1))
            } catch is CancellationError {
                return
            } catch {
                logger.error("event subscriber failed; will retry the same event", metadata: [
                    "subscriber": "\(subscriber.key)", "error": "\(error)", "retry_in": "\(backoff)",
                ])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(30))
            }
        }
    }

    /// Delivers up to 100 events; returns how many.
    private func deliverBatch(_ subscriber: Subscriber) async throws -> Int {
        let key = subscriber.key
        let types = subscriber.subscription.types
        // One snapshot: the cursor, the next events, and the head.
        let (cursor, events, head) = try await database.pool.read { db -> (Int64, [DomainEvent], Int64) in
            let cursor = try Outbox.cursor(db, subscriber: key) ?? 0
            return (cursor, try Outbox.events(db, after: cursor, types: types, limit: 100), try Outbox.head(db))
        }
        // Delivery is at least once: the cursor moves once per batch (and
        // up to the last handled event when a handler fails), so a crash
        // mid-batch re-delivers at most the rest of that batch. Subscribers are
        // idempotent; one commit per batch instead of one per event keeps a
        // busy outbox from queueing behind its own cursor.
        var handled: Int64?
        do {
            for event in events {
                try Task.checkCancellation()
                try await subscriber.subscription.handle(event)
                handled = event.sequence
            }
        } catch {
            if let handled { try await setCursor(key, handled) }
            throw error
        }
        if let handled { try await setCursor(key, handled) }
        // Nothing of this subscriber's types up to the head: move past the others.
        if events.isEmpty, head > cursor {
            try await setCursor(key, head)
        }
        return events.count
    }

    /// The cursor's commit is deferred: it needs no fsync of its own, since a
    /// cursor that a power cut takes back only re-delivers events, which
    /// subscribers already take at least once (and a handler's own writes
    /// commit before the cursor that follows them). Alone in a batch it
    /// costs no fsync; beside full writes it shares theirs, as before.
    private func setCursor(_ key: String, _ sequence: Int64) async throws {
        try await database.writer.write(.deferred) { db in
            try Outbox.setCursor(db, subscriber: key, sequence: sequence, now: StoredTime.ms(Date()))
        }
    }
}
