import GRDB

extension Database {
    /// Runs a fixed SQL statement prepared once per connection. For the hot
    /// paths — every concern, audit entry and event — where parsing and
    /// authorizing the SQL each time would cost more than running it. Only
    /// for SQL written in the code, never for SQL built from input (the cache
    /// lives as long as the connection).
    public func executeCached(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

/// Lowercase hexadecimal, without Foundation's formatting (hashes on every audit entry).
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Database {
    /// A statement for SQL assembled from a fixed set of optional clauses:
    /// cached while its shape is one of a bounded few, freshly prepared when it
    /// holds a list whose length varies (`IN (?, ?, ...)`), which would grow
    /// the cache without bound.
    public func statement(assembled sql: String) throws -> Statement {
        sql.contains("IN (?") ? try makeStatement(sql: sql) : try cachedStatement(sql: sql)
    }
}
