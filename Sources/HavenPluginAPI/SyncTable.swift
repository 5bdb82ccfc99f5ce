import GRDB

/// A table that syncs between a school server and its desktops
/// (Docs/sync.md): its columns (the only ones a receiver writes), the key
/// by which nodes remember which rows they hold, which rows reach a desktop,
/// which rows a desktop may send, and what the receiver does once new rows
/// are stored. The core declares its own tables this way, and so does each
/// plugin whose records travel (`CoreServices.registerSync`).
public struct SyncTable: Sendable {
    public enum ColumnType: Sendable { case text, integer, real, optionalText, optionalInteger, optionalReal }

    public enum Storage: Sendable {
        /// Append-only: a row that exists already is left as it is.
        case insertOnce
        /// Directory rows that change: a newer `updated_at` replaces the row.
        case upsert(conflictColumn: String)
    }

    /// What a desktop may send of this table, and how the server checks it.
    public struct Push: Sendable {
        /// The column naming who wrote the row: it must be the node's owner.
        public var authorColumn: String
        /// Which local rows a desktop sends: an SQL condition that may use
        /// `:node` (this node's id) and `:owner` (its owner's staff id).
        public var selection: String
        /// The server's check before storing a row (access to the student,
        /// the parent record exists): throw to refuse the whole batch.
        public var authorize: @Sendable (SyncRow, Caller, Database) throws -> Void

        public init(authorColumn: String, selection: String, authorize: @escaping @Sendable (SyncRow, Caller, Database) throws -> Void) {
            self.authorColumn = authorColumn
            self.selection = selection
            self.authorize = authorize
        }
    }

    public let name: String
    public let columns: [Column]
    /// SQL giving a row's key: its id, or "id@updated_at" for rows that change.
    public let keySQL: String
    public let storage: Storage
    /// Which rows reach a desktop: an SQL condition that may use `:owner`
    /// and `:students` (a JSON array of the students the owner sees in full).
    public let pull: String
    public let push: Push?
    /// Called once per batch with the rows of this table that were new, in
    /// the batch's transaction, on the server and on the desktop alike.
    public let received: (@Sendable ([SyncRow], SyncReceipt, Database) throws -> Void)?
    /// On a desktop, before a row of this table is removed (its owner no
    /// longer sees it): SQL deleting what is derived from it, using `:key`.
    public let onRemove: [String]
    /// SQL giving the student a row is about, for the server's audit of
    /// what it sent to a device; nil for directory rows.
    public let student: String?

    public struct Column: Sendable {
        public let name: String
        public let type: ColumnType
        public init(_ name: String, _ type: ColumnType) {
            self.name = name
            self.type = type
        }
    }

    public init(
        name: String, columns: [Column], keySQL: String = "id", storage: Storage = .insertOnce, pull: String,
        push: Push? = nil, received: (@Sendable ([SyncRow], SyncReceipt, Database) throws -> Void)? = nil, onRemove: [String] = [],
        student: String? = nil
    ) {
        self.onRemove = onRemove
        self.student = student ?? (columns.contains { $0.name == "student_id" } ? "student_id" : nil)
        self.name = name
        self.columns = columns
        self.keySQL = keySQL
        self.storage = storage
        self.pull = pull
        self.push = push
        self.received = received
    }

    public var columnNames: [String] { columns.map(\.name) }
}

/// A received row, checked against its table's columns.
public struct SyncRow: Sendable {
    public let table: String
    public let key: String
    public let values: [String: DatabaseValue]

    public init(table: String, key: String, values: [String: DatabaseValue]) {
        self.table = table
        self.key = key
        self.values = values
    }

    public func text(_ column: String) -> String { String.fromDatabaseValue(values[column] ?? .null) ?? "" }
    public func integer(_ column: String) -> Int64 { Int64.fromDatabaseValue(values[column] ?? .null) ?? 0 }
}

/// Where received rows came from, for a table's `received` hook.
public struct SyncReceipt: Sendable {
    /// True on the school server (rows pushed by a node), false on a desktop (rows pulled).
    public let onServer: Bool
    /// On the server: the pushing node's call (its owner is the caller), for audit entries.
    public let context: CallContext?
    /// On the server: rows a SELECT returns that the pushing node had not
    /// received when it sent its batch, i.e. changes concurrent with its own.
    /// The SELECT must return `id`, `status` (or the action), `at` and
    /// `origin_node`; it may use the named arguments given.
    public let concurrent: @Sendable (Database, _ sql: String, _ arguments: [String: (any DatabaseValueConvertible)?]) throws -> [StatusChange]
    /// On the server: records the decision between two concurrent changes
    /// (a `sync_conflicts` row, synced to the desktop, and an audit entry).
    public let recordConflict: @Sendable (Database, _ subjectType: String, _ subjectID: String, _ studentID: String, ConflictDecision) throws -> Void

    public init(
        onServer: Bool, context: CallContext?,
        concurrent: @escaping @Sendable (Database, String, [String: (any DatabaseValueConvertible)?]) throws -> [StatusChange],
        recordConflict: @escaping @Sendable (Database, String, String, String, ConflictDecision) throws -> Void
    ) {
        self.onServer = onServer
        self.context = context
        self.concurrent = concurrent
        self.recordConflict = recordConflict
    }
}

/// One change of a record's status, as the conflict rule sees it.
public struct StatusChange: Sendable, Equatable {
    public var id: String
    public var status: String
    public var at: Int64

    public init(id: String, status: String, at: Int64) {
        self.id = id
        self.status = status
        self.at = at
    }
}

public struct ConflictDecision: Sendable, Equatable {
    public var winner: String
    public var loser: String
    public var rule: String

    public init(winner: String, loser: String, rule: String) {
        self.winner = winner
        self.loser = loser
        self.rule = rule
    }
}

/// The one rule for two concurrent status changes, for concerns and
/// referrals alike (Docs/sync.md, "Conflicts"): a close loses to a change
/// that keeps the record open; otherwise the later change wins, ties by id.
public enum ConflictRule {
    public static let closeLoses = "close-loses-to-open: a close loses to a concurrent change that keeps the record open"
    public static let laterWins = "later-wins: the later of two concurrent status changes wins"

    /// Two concurrent changes to the same status agree; only different ones conflict.
    public static func conflict(_ a: StatusChange, _ b: StatusChange, closed: String = "closed") -> ConflictDecision? {
        a.status == b.status ? nil : decide(a, b, closed: closed)
    }

    public static func decide(_ a: StatusChange, _ b: StatusChange, closed: String = "closed") -> ConflictDecision {
        if (a.status == closed) != (b.status == closed) {
            let (open, close) = a.status == closed ? (b, a) : (a, b)
            return ConflictDecision(winner: open.id, loser: close.id, rule: closeLoses)
        }
        let later = (a.at, a.id) > (b.at, b.id) ? a : b
        let earlier = later.id == a.id ? b : a
        return ConflictDecision(winner: later.id, loser: earlier.id, rule: laterWins)
    }
}

/// A plugin's part in sync: its tables, the students its assignments
/// open to a staff member, and how to re-derive one of its records' state
/// after a conflict decision arrives.
public struct SyncParticipant: Sendable {
    public var tables: [SyncTable]
    /// SQL with `:owner` returning one column of student ids whose records
    /// the owner may see through this plugin (e.g. referral recipients);
    /// each is still checked by the access policy.
    public var candidateStudentsSQL: String?
    /// Subject type ("referral") → re-derive that record's current state.
    public var rederive: [String: @Sendable (Database, String) throws -> Void]

    public init(tables: [SyncTable], candidateStudentsSQL: String? = nil, rederive: [String: @Sendable (Database, String) throws -> Void] = [:]) {
        self.tables = tables
        self.candidateStudentsSQL = candidateStudentsSQL
        self.rederive = rederive
    }
}
