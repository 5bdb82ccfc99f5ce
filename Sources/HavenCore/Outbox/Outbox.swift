import Foundation
import GRDB
import HavenJSON
import HavenPluginAPI
import HavenStorage
import HavenLocking

/// Wakes whoever waits for new outbox events (the dispatcher, event streams)
/// once the transaction that wrote them has committed.
public final class OutboxSignal: Sendable {
    private let waiters = Locked<[UInt64: CheckedContinuation<Void, Never>]>([:])
    private let nextID = Locked<UInt64>(0)
    private let generation = Locked<UInt64>(0)

    /// Whether the current write transaction has registered its notification.
    private let registered = Locked(false)

    public init() {}

    /// Notifies once the current write transaction commits. One registration
    /// per transaction, however many events it publishes: GRDB consults every
    /// registered observer on every later statement of the transaction, and a
    /// group commit of 64 concerns would otherwise carry 64 of them.
    func notifyAfterCommit(_ db: Database) {
        let first = registered.withLock { registered -> Bool in
            defer { registered = true }
            return !registered
        }
        guard first else { return }
        db.afterNextTransaction(
            onCommit: { [self] _ in registered.withLock { $0 = false }; notify() },
            onRollback: { [self] _ in registered.withLock { $0 = false } })
    }

    public func notify() {
        let pending = waiters.withLock { w in
            generation.withLock { $0 += 1 }
            let all = Array(w.values)
            w.removeAll()
            return all
        }
        for continuation in pending { continuation.resume() }
    }

    /// The number of notifications so far; pass it to `wait(after:)`.
    public var current: UInt64 { generation.withLock { $0 } }

    /// Returns at the next notification after `generation`, or after `timeout`.
    public func wait(after generation: UInt64, timeout: Duration) async {
        let id = nextID.withLock { $0 += 1; return $0 }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.resume(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = waiters.withLock { w -> Bool in
                    if self.generation.withLock({ $0 }) != generation { return true }
                    w[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.resume(id)
        }
        timer.cancel()
    }

    private func resume(_ id: UInt64) {
        waiters.withLock { $0.removeValue(forKey: id) }?.resume()
    }
}

/// SQL for the outbox: events written in the same transaction as the change.
/// `seq` is the rowid (`core/0007-lean-appends`): pruning old events must
/// keep the newest, or its number would be given again and cursors past it
/// would skip the new event.
enum Outbox {
    static func publish(_ db: Database, _ event: NewEvent, node: String, at: Date, signal: OutboxSignal) throws -> Int64 {
        let attributes = JSONWriter.write(.object(event.attributes.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }), pretty: false)
        try db.executeBound("""
            INSERT INTO outbox (id, type, occurred_at, student_id, school_id, subject_id, origin_node, attributes)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, RecordID.make(at: at), event.type, StoredTime.ms(at), event.studentID, event.schoolID, event.subjectID, node, attributes)
        let seq = db.lastInsertedRowID
        signal.notifyAfterCommit(db)
        return seq
    }

    /// An event read by column position, in the order of `selectEvents`.
    private static func event(_ row: DirectRow) -> DomainEvent {
        var attributes: [String: String] = [:]
        if case .object(let members)? = row.withTextBytes(8, { try? JSONParser.parse(Array($0)) }) {
            for (key, value) in members { if case .string(let text) = value { attributes[key] = text } }
        }
        return DomainEvent(
            sequence: row.int64(0), id: row.text(1), type: row.text(2), occurredAt: StoredTime.date(row.int64(3)),
            studentID: row.optionalText(4), schoolID: row.optionalText(5), subjectID: row.optionalText(6),
            originNode: row.text(7), attributes: attributes)
    }

    private static let selectEvents = "SELECT seq, id, type, occurred_at, student_id, school_id, subject_id, origin_node, attributes FROM outbox"
    private static let eventsAfter = selectEvents + " WHERE seq > ? ORDER BY seq LIMIT ?"
    /// The types are bound as one JSON array, so every set of types shares
    /// one prepared statement (an `IN (?, ?, ...)` list would need one per
    /// length, and a client's list of types is unbounded).
    private static let eventsOfTypesAfter = selectEvents + " WHERE seq > ? AND type IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?"

    /// Events after `sequence`, oldest first. Every outbox subscriber reads
    /// every event this way, so it is read by position from a cached
    /// statement (by column name through `Row` it was a visible share of
    /// the daemon's time under a stream of writes).
    static func events(_ db: Database, after sequence: Int64, types: Set<String>, limit: Int) throws -> [DomainEvent] {
        if types.isEmpty {
            return try db.fetchAllBound(eventsAfter, sequence, limit, read: event)
        }
        let list = JSONWriter.write(.array(types.sorted().map { .string($0) }), pretty: false)
        return try db.fetchAllBound(eventsOfTypesAfter, sequence, list, limit, read: event)
    }

    static func head(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM outbox")) ?? 0
    }

    static func cursor(_ db: Database, subscriber: String) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_seq FROM outbox_cursors WHERE subscriber = ?"), arguments: [subscriber])
    }

    static func setCursor(_ db: Database, subscriber: String, sequence: Int64, now: Int64) throws {
        try db.executeCached("""
            INSERT INTO outbox_cursors (subscriber, last_seq, updated_at) VALUES (?, ?, ?)
            ON CONFLICT(subscriber) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at
            """, [subscriber, sequence, now])
    }
}
