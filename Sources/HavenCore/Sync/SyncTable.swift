import GRDB
import HavenProto

/// A table that syncs: its columns (the only ones a receiver writes), the
/// SQL expression of a row's sync key, and how a received row is stored.
/// The list in `SyncTable.all` is the whole surface a node can write on
/// another node; Docs/sync.md repeats it.
struct SyncTable: Sendable {
    enum ColumnType: Sendable { case text, integer, optionalText }

    enum Storage: Sendable {
        /// Append-only: a row that exists already is left as it is.
        case insertOnce
        /// Directory rows that change: the newer version replaces the older.
        case upsert(conflictColumn: String)
    }

    let name: String
    let columns: [(name: String, type: ColumnType)]
    /// SQL giving the row's key: its id, or "id@updated_at" for rows that change.
    let keySQL: String
    let storage: Storage

    var columnNames: [String] { columns.map(\.name) }

    static let schools = SyncTable(
        name: "schools",
        columns: [("id", .text), ("name", .text), ("identifier", .text), ("active", .integer), ("origin_node", .text),
                  ("created_at", .integer), ("updated_at", .integer)],
        keySQL: "id || '@' || updated_at", storage: .upsert(conflictColumn: "id"))
    static let staff = SyncTable(
        name: "staff",
        columns: [("id", .text), ("display_name", .text), ("email", .text), ("active", .integer), ("origin_node", .text),
                  ("created_at", .integer), ("updated_at", .integer)],
        keySQL: "id || '@' || updated_at", storage: .upsert(conflictColumn: "id"))
    static let students = SyncTable(
        name: "students",
        columns: [("id", .text), ("school_id", .text), ("given_name", .text), ("family_name", .text), ("preferred_name", .optionalText),
                  ("grade", .text), ("birth_date", .optionalText), ("active", .integer), ("origin_node", .text),
                  ("created_at", .integer), ("updated_at", .integer)],
        keySQL: "id || '@' || updated_at", storage: .upsert(conflictColumn: "id"))
    static let caseload = SyncTable(
        name: "caseload",
        columns: [("staff_id", .text), ("student_id", .text), ("assigned_by", .text), ("assigned_at", .integer)],
        keySQL: "'caseload:' || staff_id || ':' || student_id", storage: .insertOnce)
    static let grants = SyncTable(
        name: "grants",
        columns: [("id", .text), ("student_id", .text), ("grantee_id", .text), ("granted_by", .text), ("purpose", .text),
                  ("law_enforcement_reason", .text), ("created_at", .integer), ("expires_at", .integer), ("origin_node", .text)],
        keySQL: "id", storage: .insertOnce)
    static let grantRevocations = SyncTable(
        name: "grant_revocations",
        columns: [("grant_id", .text), ("revoked_by", .text), ("revoked_at", .integer), ("reason", .text), ("origin_node", .text)],
        keySQL: "'revocation:' || grant_id", storage: .insertOnce)
    static let concerns = SyncTable(
        name: "concerns",
        columns: [("id", .text), ("incident_id", .text), ("student_id", .text), ("school_id", .text), ("reporter_id", .text),
                  ("category", .text), ("severity", .text), ("narrative", .text), ("observed_at", .integer), ("location", .text),
                  ("told_lead_in_person", .text), ("created_at", .integer), ("origin_node", .text)],
        keySQL: "id", storage: .insertOnce)
    static let concernEntries = SyncTable(
        name: "concern_entries",
        columns: [("id", .text), ("concern_id", .text), ("kind", .text), ("author_id", .text), ("created_at", .integer), ("body", .text),
                  ("field", .text), ("old_value", .text), ("new_value", .text), ("status", .text), ("disposition", .text),
                  ("origin_node", .text)],
        keySQL: "id", storage: .insertOnce)
    static let conflicts = SyncTable(
        name: "sync_conflicts",
        columns: [("id", .text), ("concern_id", .text), ("winner_entry_id", .text), ("loser_entry_id", .text), ("rule", .text),
                  ("detected_at", .integer), ("origin_node", .text)],
        keySQL: "id", storage: .insertOnce)

    /// In dependency order: a row only refers to rows of tables before it.
    static let all: [SyncTable] = [schools, staff, students, caseload, grants, grantRevocations, concerns, concernEntries, conflicts]
    static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}

/// A received row, checked against its table's columns.
struct ReceivedRow {
    let table: SyncTable
    let key: String
    let values: [String: DatabaseValue]

    func text(_ column: String) -> String { String.fromDatabaseValue(values[column] ?? .null) ?? "" }
    func integer(_ column: String) -> Int64 { Int64.fromDatabaseValue(values[column] ?? .null) ?? 0 }
}

/// A row that cannot be accepted, and where it was in the batch.
struct SyncRowError: Error, CustomStringConvertible {
    let description: String
}

/// Rows to and from the wire.
enum SyncRowCodec {
    /// Encodes a row selected with the table's columns and its key as `sync_key`.
    static func encode(_ table: SyncTable, _ row: Row) -> Haven_V1_SyncRow {
        Haven_V1_SyncRow.with { message in
            message.table = table.name
            message.key = row["sync_key"]
            message.values = table.columns.map { column in
                Haven_V1_SyncValue.with { value in
                    value.column = column.name
                    switch row[column.name] as DatabaseValue {
                    case let v where v.isNull: value.null = true
                    case let v:
                        switch column.type {
                        case .integer: value.integer = Int64.fromDatabaseValue(v) ?? 0
                        case .text, .optionalText: value.text = String.fromDatabaseValue(v) ?? ""
                        }
                    }
                }
            }
        }
    }

    /// Checks a received row: a known table, every column exactly once and
    /// of its type, nothing else. `position` names the row in errors.
    static func decode(_ message: Haven_V1_SyncRow, position: Int, allowed: Set<String>) throws -> ReceivedRow {
        let at = "rows[\(position)]"
        guard let table = SyncTable.byName[message.table], allowed.contains(message.table) else {
            throw SyncRowError(description: "\(at): table \"\(message.table)\" is not accepted here (accepted: \(allowed.sorted().joined(separator: ", ")))")
        }
        guard !message.key.isEmpty, message.key.utf8.count <= 200 else { throw SyncRowError(description: "\(at): key is empty or too long") }
        var values: [String: DatabaseValue] = [:]
        let types = Dictionary(uniqueKeysWithValues: table.columns.map { ($0.name, $0.type) })
        for value in message.values {
            guard let type = types[value.column] else {
                throw SyncRowError(description: "\(at) (\(table.name)): unknown column \"\(value.column)\"")
            }
            guard values[value.column] == nil else { throw SyncRowError(description: "\(at) (\(table.name)): column \(value.column) given twice") }
            switch (value.value, type) {
            case (.text(let text)?, .text), (.text(let text)?, .optionalText):
                guard text.utf8.count <= 100_000 else { throw SyncRowError(description: "\(at) (\(table.name)): \(value.column) is too long") }
                values[value.column] = text.databaseValue
            case (.integer(let n)?, .integer): values[value.column] = n.databaseValue
            case (.null?, .optionalText): values[value.column] = .null
            default:
                throw SyncRowError(description: "\(at) (\(table.name)): column \(value.column) has the wrong type")
            }
        }
        if let missing = table.columns.first(where: { values[$0.name] == nil }) {
            throw SyncRowError(description: "\(at) (\(table.name)): column \(missing.name) is missing")
        }
        return ReceivedRow(table: table, key: message.key, values: values)
    }

    /// Stores a checked row; true when it was new (or a newer version).
    static func store(_ row: ReceivedRow, _ db: Database) throws -> Bool {
        let names = row.table.columnNames
        let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
        let arguments = StatementArguments(names.map { row.values[$0]! })
        switch row.table.storage {
        case .insertOnce:
            try db.execute(sql: "INSERT OR IGNORE INTO \(row.table.name) (\(names.joined(separator: ", "))) VALUES (\(placeholders))",
                           arguments: arguments)
        case .upsert(let conflict):
            let updates = names.filter { $0 != conflict }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            // Only a newer version replaces what is held.
            try db.execute(sql: """
                INSERT INTO \(row.table.name) (\(names.joined(separator: ", "))) VALUES (\(placeholders))
                ON CONFLICT(\(conflict)) DO UPDATE SET \(updates) WHERE excluded.updated_at >= \(row.table.name).updated_at
                """, arguments: arguments)
        }
        return db.changesCount > 0
    }
}
