import Foundation
import GRDB
import GRDBSQLite

extension Database {
    /// Runs a fixed SQL statement prepared once per connection. For the hot
    /// paths — every concern, audit entry and event — where parsing and
    /// authorizing the SQL each time would cost more than running it. Only
    /// for SQL written in the code, never for SQL built from input (the cache
    /// lives as long as the connection).
    public func executeCached(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    /// `executeCached` for the writes made for every concern, audit entry and
    /// event, with each value bound straight to SQLite: building
    /// `StatementArguments` and GRDB's binding of them cost more than the
    /// insert itself. The statement still runs through GRDB (transaction
    /// observers, errors). Its cache entry is its own (the SQL is marked), so
    /// no `execute(arguments:)` elsewhere can leave other values bound to it.
    public func executeBound(_ sql: String, _ values: any DirectlyBindable...) throws {
        let statement = try cachedStatement(sql: DirectBinding.marker + sql)
        if statement.arguments.isEmpty {
            // First use: tell GRDB the parameters are bound, so `execute()`
            // only resets (keeping the bindings made below).
            statement.setUncheckedArguments(StatementArguments(Array(repeating: DatabaseValue.null, count: values.count)))
        }
        try bind(values, to: statement, sql)
        try statement.execute()
    }

    /// The first row of a query on the hot path (the audit chain's head, the
    /// student a concern is about), bound and read directly: no `Row`, no
    /// lookup of columns by name. `read` gets the row by column position.
    public func fetchFirstBound<T>(_ sql: String, _ values: any DirectlyBindable..., read: (DirectRow) throws -> T) throws -> T? {
        var first: T?
        try stepBound(sql, values) { row in
            first = try read(row)
            return false
        }
        return first
    }

    /// Every row of a query on the hot path (the outbox events each
    /// subscriber reads), bound and read by column position like
    /// `fetchFirstBound`.
    public func fetchAllBound<T>(_ sql: String, _ values: any DirectlyBindable..., read: (DirectRow) throws -> T) throws -> [T] {
        var all: [T] = []
        try stepBound(sql, values) { row in
            all.append(try read(row))
            return true
        }
        return all
    }

    /// Every row of a query on the hot path handed to `row` in turn, bound
    /// and read by column position like `fetchFirstBound`, for a caller that
    /// folds rows as they come (a timeline's concerns and their entries).
    public func forEachBound(_ sql: String, _ values: any DirectlyBindable..., row: (DirectRow) throws -> Void) throws {
        try stepBound(sql, values) { current in
            try row(current)
            return true
        }
    }

    /// Binds `values` to the marked statement for `sql` and steps it, handing
    /// each row to `row` for as long as it returns true.
    private func stepBound(_ sql: String, _ values: [any DirectlyBindable], _ row: (DirectRow) throws -> Bool) throws {
        let statement = try cachedStatement(sql: DirectBinding.marker + sql)
        try bind(values, to: statement, sql)
        // The statement, not only its handle, must outlive the steps and reset.
        try withExtendedLifetime(statement) {
            let handle = statement.sqliteStatement
            defer { sqlite3_reset(handle) }
            while true {
                switch sqlite3_step(handle) {
                case SQLITE_ROW: if try !row(DirectRow(handle: handle)) { return }
                case SQLITE_DONE: return
                case let code: throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqliteConnection)), sql: sql)
                }
            }
        }
    }

    /// Resets `statement` and binds `values` to it. Its SQL is marked
    /// (`DirectBinding.marker`), so its cache entry is its own and no
    /// `execute(arguments:)` elsewhere can leave other values bound to it.
    private func bind(_ values: [any DirectlyBindable], to statement: Statement, _ sql: String) throws {
        let handle = statement.sqliteStatement
        // Resetting also clears a failed step's error, so it is not reported twice.
        sqlite3_reset(handle)
        guard values.count == Int(sqlite3_bind_parameter_count(handle)) else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "\(values.count) values for \(sqlite3_bind_parameter_count(handle)) parameters", sql: sql)
        }
        for (offset, value) in values.enumerated() {
            let code = value.bind(to: handle, at: Int32(offset + 1))
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errstr(code)), sql: sql)
            }
        }
    }
}

/// A result row of `fetchFirstBound` or `fetchAllBound`, read by column
/// position. It and the bytes of `withTextBytes` are valid only inside the
/// `read` closure, which must not run the same SQL again (the statement is
/// shared through the connection's cache: a nested run would reset it).
public struct DirectRow {
    let handle: OpaquePointer

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    public func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, column))), as: UTF8.self)
    }

    public func optionalText(_ column: Int32) -> String? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : text(column)
    }

    /// The column's text as bytes, valid only inside `body` (no `String` is built).
    public func withTextBytes<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        let bytes = sqlite3_column_text(handle, column)
        return try body(UnsafeBufferPointer(start: bytes, count: bytes == nil ? 0 : Int(sqlite3_column_bytes(handle, column))))
    }
}

enum DirectBinding {
    static let marker = "/* bound directly */ "
    /// SQLite copies the bytes before the bind call returns.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// A value `executeBound` binds without GRDB's `DatabaseValue`.
public protocol DirectlyBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32
}

extension String: DirectlyBindable {
    /// As a C string, the way GRDB binds text: what is stored is the same
    /// whichever way a value was written (text up to any NUL character).
    public func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        withCString { sqlite3_bind_text(statement, index, $0, -1, DirectBinding.transient) }
    }
}

extension Int64: DirectlyBindable {
    public func bind(to statement: OpaquePointer, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, self) }
}

extension Int: DirectlyBindable {
    public func bind(to statement: OpaquePointer, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, Int64(self)) }
}

extension Double: DirectlyBindable {
    public func bind(to statement: OpaquePointer, at index: Int32) -> Int32 { sqlite3_bind_double(statement, index, self) }
}

extension Bool: DirectlyBindable {
    public func bind(to statement: OpaquePointer, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, self ? 1 : 0) }
}

extension Optional: DirectlyBindable where Wrapped: DirectlyBindable {
    public func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        switch self {
        case .some(let value): value.bind(to: statement, at: index)
        case .none: sqlite3_bind_null(statement, index)
        }
    }
}

/// Lowercase hexadecimal, without Foundation's formatting (hashes on every audit entry).
public enum Hex {
    private static let digits: StaticString = "0123456789abcdef"

    /// A digest's bytes, read through its own buffer: iterating a digest byte
    /// by byte goes through a generic iterator per byte, which cost more than
    /// the hash itself.
    public static func encode(digest: some ContiguousBytes) -> String {
        digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { out in
                digits.withUTF8Buffer { digits in
                    var index = 0
                    for byte in bytes {
                        out[index] = digits[Int(byte >> 4)]
                        out[index + 1] = digits[Int(byte & 0x0f)]
                        index += 2
                    }
                    return index
                }
            }
        }
    }
}

extension Database {
    /// A statement for SQL assembled from a fixed set of optional clauses:
    /// cached while its shape is one of a bounded few, freshly prepared when it
    /// holds a list whose length varies (`IN (?, ?, ...)`), which would grow
    /// the cache without bound.
    public func statement(assembled sql: String) throws -> Statement {
        Self.holdsVariableList(sql) ? try makeStatement(sql: sql) : try cachedStatement(sql: sql)
    }

    private static let listMarker: [UInt8] = Array("IN (?".utf8)

    /// Whether `sql` holds `IN (?` (Haven's assembled SQL writes `IN` in
    /// capitals), compared byte by byte in the string's own UTF-8:
    /// Foundation's `String.contains` bridged the whole SQL on every list and
    /// timeline query, and the standard library's generic `firstRange(of:)`
    /// took more still (11–15 % of havend's time reading timelines, most of it
    /// instantiating generic metadata).
    static func holdsVariableList(_ sql: String) -> Bool {
        var sql = sql
        let marker = listMarker
        return sql.withUTF8 { bytes in
            bytes.count >= marker.count && (0 ... bytes.count - marker.count).contains { start in
                bytes[start ..< start + marker.count].elementsEqual(marker)
            }
        }
    }
}

/// Where each column of a query's rows is, looked up once for all its rows.
/// A fetched GRDB row finds a column by name by lower-casing and comparing
/// every column name before it, on every lookup: for a row of twenty-odd
/// columns read field by field, most of the time spent building a message.
public struct ColumnPositions: Sendable {
    private let positions: [String: Int]

    /// The positions of the columns of `rows` (all from one query), read from
    /// the first; the first of any repeated name, as GRDB finds it. With no
    /// rows there is nothing to read.
    public init(_ rows: some Collection<Row>) {
        var positions: [String: Int] = [:]
        for (index, name) in (rows.first.map { Array($0.columnNames) } ?? []).enumerated() {
            let key = name.lowercased()
            if positions[key] == nil { positions[key] = index }
        }
        self.positions = positions
    }

    func position(_ name: String) -> Int? { positions[name] ?? positions[name.lowercased()] }
}

extension Row {
    /// The named column's value, found through `columns` (positions read from
    /// a row of the same query); GRDB's own lookup by name if it is not there,
    /// so a missing column fails exactly as `row[name]` does.
    @_disfavoredOverload  // `as T?` reads a NULL as nil, as `row[name] as T?` does
    public subscript<Value: DatabaseValueConvertible>(_ name: String, in columns: ColumnPositions) -> Value {
        if let index = columns.position(name) { return self[index] }
        return self[name]
    }

    public subscript<Value: DatabaseValueConvertible>(_ name: String, in columns: ColumnPositions) -> Value? {
        if let index = columns.position(name) { return self[index] }
        return self[name]
    }
}
