import Foundation
import GRDB

/// A domain event as stored in the outbox: written in the same transaction as
/// the change it describes, numbered by a sequence that only grows. Events
/// carry ids and codes, never narrative text.
public struct DomainEvent: Sendable, Equatable {
    public var sequence: Int64
    public var id: String
    /// e.g. "concern.created", "screening.completed", "referral.escalated".
    public var type: String
    public var occurredAt: Date
    public var studentID: String?
    public var schoolID: String?
    /// The record the event is about (a concern id, a referral id, ...).
    public var subjectID: String?
    /// The node that created the record.
    public var originNode: String
    /// Event-specific attributes (codes and ids only), as JSON object text.
    public var attributes: [String: String]

    public init(
        sequence: Int64, id: String, type: String, occurredAt: Date, studentID: String?, schoolID: String?,
        subjectID: String?, originNode: String, attributes: [String: String]
    ) {
        self.sequence = sequence
        self.id = id
        self.type = type
        self.occurredAt = occurredAt
        self.studentID = studentID
        self.schoolID = schoolID
        self.subjectID = subjectID
        self.originNode = originNode
        self.attributes = attributes
    }
}

/// An in-process subscriber to outbox events. Delivery is at least once, in
/// sequence order, with a cursor persisted per subscriber: a handler must be
/// idempotent (the same event may arrive again after a crash).
public struct EventSubscription: Sendable {
    /// Unique per plugin; the cursor is stored under "<plugin id>/<name>".
    public let name: String
    /// Event types wanted; empty means all.
    public let types: Set<String>
    public let handle: @Sendable (DomainEvent) async throws -> Void

    public init(name: String, types: Set<String>, handle: @escaping @Sendable (DomainEvent) async throws -> Void) {
        self.name = name
        self.types = types
        self.handle = handle
    }
}

/// An event to publish, before the outbox gives it a sequence number.
public struct NewEvent: Sendable {
    public var type: String
    public var studentID: String?
    public var schoolID: String?
    public var subjectID: String?
    public var attributes: [String: String]

    public init(type: String, studentID: String? = nil, schoolID: String? = nil, subjectID: String? = nil, attributes: [String: String] = [:]) {
        self.type = type
        self.studentID = studentID
        self.schoolID = schoolID
        self.subjectID = subjectID
        self.attributes = attributes
    }
}

/// One item on a student's timeline.
public struct TimelineEntry: Sendable, Equatable {
    public var id: String
    /// e.g. "concern", "screening", "referral".
    public var kind: String
    public var occurredAt: Date
    public var title: String
    public var detail: String
    public var recordID: String
    /// The plugin (or "core") that contributed it.
    public var source: String

    public init(id: String, kind: String, occurredAt: Date, title: String, detail: String, recordID: String, source: String) {
        self.id = id
        self.kind = kind
        self.occurredAt = occurredAt
        self.title = title
        self.detail = detail
        self.recordID = recordID
        self.source = source
    }
}

/// A plugin's contribution to the student timeline. It runs inside the
/// timeline's read transaction and returns only what `access` allows.
public protocol TimelineContributor: Sendable {
    func timelineEntries(studentID: String, access: AccessDecision, caller: Caller, db: Database) throws -> [TimelineEntry]
}
