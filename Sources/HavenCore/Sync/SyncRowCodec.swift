import GRDB
import HavenPluginAPI
import HavenProto
import SwiftProtobuf

/// A row that cannot be accepted, and where it was in the batch.
struct SyncRowError: Error, CustomStringConvertible {
    let description: String
}

/// Rows to and from the wire, checked against their table's columns.
enum SyncRowCodec {
    /// The longest text a row may carry; a batch is cut well below the frame limit.
    static let maxText = 1 << 20
    /// A batch stops growing past this many bytes (frames hold at most 4 MiB).
    static let maxBatchBytes = 2 << 20

    /// A row's size on the wire, for cutting batches.
    static func size(_ message: Haven_V1_SyncRow) -> Int {
        ((try? message.serializedBytes()) as [UInt8]?)?.count ?? 0
    }

    /// Encodes a row selected with the table's columns and its key as `sync_key`.
    static func encode(_ table: SyncTable, _ row: Row) -> Haven_V1_SyncRow {
        Haven_V1_SyncRow.with { message in
            message.table = table.name
            message.key = row["sync_key"]
            message.values = table.columns.map { column in
                Haven_V1_SyncValue.with { value in
                    value.column = column.name
                    let stored: DatabaseValue = row[column.name]
                    if stored.isNull {
                        value.null = true
                        return
                    }
                    switch column.type {
                    case .integer, .optionalInteger: value.integer = Int64.fromDatabaseValue(stored) ?? 0
                    case .real, .optionalReal: value.real = Double.fromDatabaseValue(stored) ?? 0
                    case .text, .optionalText: value.text = String.fromDatabaseValue(stored) ?? ""
                    }
                }
            }
        }
    }

    /// Checks a received row: a table of `tables`, every column exactly
    /// once and of its type, nothing else. `position` names the row in errors.
    static func decode(_ message: Haven_V1_SyncRow, position: Int, tables: [String: SyncTable]) throws -> (SyncTable, SyncRow) {
        let at = "rows[\(position)]"
        guard let table = tables[message.table] else {
            throw SyncRowError(description: "\(at): table \"\(message.table)\" is not accepted here (accepted: \(tables.keys.sorted().joined(separator: ", ")))")
        }
        guard !message.key.isEmpty, message.key.utf8.count <= 200 else { throw SyncRowError(description: "\(at) (\(table.name)): key is empty or too long") }
        var values: [String: DatabaseValue] = [:]
        let types = Dictionary(uniqueKeysWithValues: table.columns.map { ($0.name, $0.type) })
        for value in message.values {
            guard let type = types[value.column] else {
                throw SyncRowError(description: "\(at) (\(table.name)): unknown column \"\(value.column)\"")
            }
            guard values[value.column] == nil else { throw SyncRowError(description: "\(at) (\(table.name)): column \(value.column) given twice") }
            switch (value.value, type) {
            case (.text(let text)?, .text), (.text(let text)?, .optionalText):
                guard text.utf8.count <= Self.maxText else { throw SyncRowError(description: "\(at) (\(table.name)): \(value.column) is longer than \(Self.maxText) bytes") }
                // Stored text would be cut at a NUL (as requests are, rows pulled from a peer are refused).
                guard !text.utf8.contains(0) else { throw SyncRowError(description: "\(at) (\(table.name)): \(value.column) contains a NUL character") }
                values[value.column] = text.databaseValue
            case (.integer(let n)?, .integer), (.integer(let n)?, .optionalInteger): values[value.column] = n.databaseValue
            case (.real(let x)?, .real), (.real(let x)?, .optionalReal):
                guard x.isFinite else { throw SyncRowError(description: "\(at) (\(table.name)): \(value.column) is not a finite number") }
                values[value.column] = x.databaseValue
            case (.null?, .optionalText), (.null?, .optionalInteger), (.null?, .optionalReal): values[value.column] = .null
            default:
                throw SyncRowError(description: "\(at) (\(table.name)): column \(value.column) has the wrong type")
            }
        }
        if let missing = table.columns.first(where: { values[$0.name] == nil }) {
            throw SyncRowError(description: "\(at) (\(table.name)): column \(missing.name) is missing")
        }
        return (table, SyncRow(table: table.name, key: message.key, values: values))
    }

    /// Stores a checked row; true when it was new (or a newer version).
    static func store(_ table: SyncTable, _ row: SyncRow, _ db: Database) throws -> Bool {
        let names = table.columnNames
        let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
        let arguments = StatementArguments(names.map { row.values[$0]! })
        switch table.storage {
        case .insertOnce:
            // ON CONFLICT DO NOTHING skips only a row already held; a row that
            // breaks a CHECK or NOT NULL constraint still fails (OR IGNORE
            // would drop it silently and call it a duplicate).
            try db.execute(sql: "INSERT INTO \(table.name) (\(names.joined(separator: ", "))) VALUES (\(placeholders)) ON CONFLICT DO NOTHING",
                           arguments: arguments)
        case .upsert(let conflict):
            let updates = names.filter { $0 != conflict }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            // Only a newer version replaces what is held.
            try db.execute(sql: """
                INSERT INTO \(table.name) (\(names.joined(separator: ", "))) VALUES (\(placeholders))
                ON CONFLICT(\(conflict)) DO UPDATE SET \(updates) WHERE excluded.updated_at >= \(table.name).updated_at
                """, arguments: arguments)
        }
        return db.changesCount > 0
    }
}
