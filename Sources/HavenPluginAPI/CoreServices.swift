import Foundation
import GRDB
import HavenWire

/// What a caller may see of one student's records, and why.
public struct AccessDecision: Sendable, Equatable {
    public enum Scope: Sendable, Equatable {
        /// Nothing of the student's records.
        case none
        /// Only records the caller wrote (a teacher's own concerns).
        case ownReports
        /// The student's whole case.
        case full
    }

    public var scope: Scope
    /// "caseload", "school", "district", "grant", "emergency", "assignment", "reporter", or "" for none.
    public var basis: String
    /// e.g. "grant 0193... until 2026-12-01 (purpose: IEP meeting)".
    public var detail: String
    /// For a person to read: why they may or may not see the record, and what to do.
    public var explanation: String

    public init(scope: Scope, basis: String, detail: String = "", explanation: String) {
        self.scope = scope
        self.basis = basis
        self.detail = detail
        self.explanation = explanation
    }

    public var isFull: Bool { scope == .full }
}

/// Thrown inside `CoreServices.perform` when the caller may not do what it
/// asked. The denial is audited (and committed) before the caller sees
/// PERMISSION_DENIED with `message`.
public struct AccessDenied: Error, Sendable {
    public var message: String
    public var studentID: String?
    public var recordIDs: [String]

    public init(_ message: String, studentID: String? = nil, recordIDs: [String] = []) {
        self.message = message
        self.studentID = studentID
        self.recordIDs = recordIDs
    }
}

/// An audit entry to append. Ids and field names only, never narrative text.
public struct AuditRecord: Sendable {
    public var action: String
    public var studentID: String?
    public var recordIDs: [String]
    public var fields: [String]
    public var purpose: String
    public var outcome: String

    public init(action: String, studentID: String? = nil, recordIDs: [String] = [], fields: [String] = [], purpose: String = "", outcome: String = "allowed") {
        self.action = action
        self.studentID = studentID
        self.recordIDs = recordIDs
        self.fields = fields
        self.purpose = purpose
        self.outcome = outcome
    }
}

/// The audit entries a read records; committed after the read succeeds.
public final class ReadAudit: @unchecked Sendable {
    // Used only by the one read body that owns it, then by the core after it.
    public private(set) var records: [AuditRecord] = []
    public init() {}
    public func record(_ record: AuditRecord) { records.append(record) }
}

/// A student as plugins need to know one.
public struct StudentRecord: Sendable, Equatable {
    public var id: String
    public var sourceID: String?
    public var givenName: String
    public var familyName: String
    public var preferredName: String?
    public var grade: String
    public var schoolID: String
    public var active: Bool

    public init(id: String, sourceID: String?, givenName: String, familyName: String, preferredName: String?, grade: String, schoolID: String, active: Bool) {
        self.id = id
        self.sourceID = sourceID
        self.givenName = givenName
        self.familyName = familyName
        self.preferredName = preferredName
        self.grade = grade
        self.schoolID = schoolID
        self.active = active
    }

    public var displayName: String { "\(preferredName ?? givenName) \(familyName)" }
}

/// A staff member as plugins need to know one.
public struct StaffRecord: Sendable, Equatable {
    public var id: String
    public var displayName: String
    public var roles: Set<Role>
    public var schoolIDs: [String]
    public var active: Bool

    public init(id: String, displayName: String, roles: Set<Role>, schoolIDs: [String], active: Bool) {
        self.id = id
        self.displayName = displayName
        self.roles = roles
        self.schoolIDs = schoolIDs
        self.active = active
    }
}

/// A plugin that makes a staff member responsible for a student (a referral
/// recipient, an escalation chain) gives them access through this.
public protocol AssignmentProvider: Sendable {
    /// Why `staffID` is assigned to `studentID` now, or nil.
    func assignment(staffID: String, studentID: String, at: Date, db: Database) throws -> String?
    /// Every student `staffID` is assigned to now (for filtering lists).
    func assignedStudentIDs(staffID: String, at: Date, db: Database) throws -> Set<String>
}

/// The time, as the daemon sees it. Tests replace it to make deadlines
/// happen without waiting.
public protocol HavenClock: Sendable {
    func now() -> Date
}

public struct SystemClock: HavenClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// The access checks, audit trail, outbox and directory that the core offers
/// plugins. Everything that takes a `Database` runs inside the caller's
/// transaction, so a plugin's change, its audit entry and its events commit
/// together or not at all.
public protocol CoreServices: Sendable {
    var nodeID: String { get }
    var clock: any HavenClock { get }

    /// False on a desktop linked to a school server: routing, escalation and
    /// other work that acts on events happen on the server (Docs/sync.md).
    var routesLocally: Bool { get }

    /// Adds a plugin's tables to sync (Docs/sync.md).
    func registerSync(_ participant: SyncParticipant)

    /// Runs `body` in a durable write transaction. `AccessDenied` thrown by the
    /// body rolls back its changes, is audited as a denial, and reaches the
    /// caller as PERMISSION_DENIED; the audit entry commits either way.
    func perform<T: Sendable>(_ context: CallContext, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T

    /// Runs a read-only `body` on a snapshot, beside other readers and never
    /// holding up a write. The audit entries the body records are committed
    /// before the caller gets the answer (with `Durability.deferred`: they
    /// survive a daemon crash at once and a power cut within a second).
    /// `AccessDenied` is audited (durably) and reaches the caller as
    /// PERMISSION_DENIED. A write inside `body` fails: the connection is read-only.
    func read<T: Sendable>(_ context: CallContext, _ body: @escaping @Sendable (Database, ReadAudit) throws -> T) async throws -> T

    /// What the caller may see of a student's records.
    func access(for caller: Caller, studentID: String, db: Database) throws -> AccessDecision

    /// The decision, or `AccessDenied` with a message a person understands.
    func requireAccess(_ caller: Caller, studentID: String, db: Database) throws -> AccessDecision

    /// Appends an audit entry for this call, in the current transaction.
    func audit(_ record: AuditRecord, context: CallContext, db: Database) throws

    /// Appends an audit entry for work the daemon does on its own (the
    /// scheduler, an event subscriber).
    func auditSystem(_ record: AuditRecord, db: Database) throws

    /// Writes an event to the outbox in the current transaction; returns its sequence.
    @discardableResult
    func publish(_ event: NewEvent, db: Database) throws -> Int64

    func student(_ id: String, db: Database) throws -> StudentRecord?
    func staffMember(_ id: String, db: Database) throws -> StaffRecord?
    /// Active staff holding any of `roles`, at `schoolID` when given.
    func staff(withAnyRole roles: Set<Role>, schoolID: String?, db: Database) throws -> [StaffRecord]

    /// The district's active schools: (id, name).
    func schools(db: Database) throws -> [(id: String, name: String)]

    /// Active students at a school.
    func studentIDs(schoolID: String, db: Database) throws -> [String]

    /// Active staff who have the student on their caseload.
    func caseloadStaff(studentID: String, db: Database) throws -> [StaffRecord]

    /// Leaves a notification for a staff member (codes and ids, no narrative).
    func notify(staffID: String, kind: String, message: String, studentID: String?, subjectID: String?, db: Database) throws

    func registerAssignmentProvider(_ provider: any AssignmentProvider)
}
