/// Maps dotted key paths to the line that defines them. TOML parsers report
/// where a syntax error is, but not where each key is, and Haven's errors must
/// name the line of an unknown key or a wrongly typed value. The scan follows
/// table headers and `key = value` lines; it is an index, not a parser — the
/// real parser has already accepted the document.
public struct KeyLineIndex: Sendable {
    private var lines: [String: Int] = [:]

    public init(text: String) {
        var table: [String] = []
        var arrayCounts: [String: Int] = [:]
        var inMultilineString: String?
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let line = rawLine.trimmingCharacters(in: " \t\r")
            if let delimiter = inMultilineString {
                if line.contains(delimiter) { inMultilineString = nil }
                continue
            }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[[") {
                let path = Self.keyPath(String(line.dropFirst(2).prefix { $0 != "]" }))
                let joined = path.joined(separator: ".")
                let index = arrayCounts[joined, default: 0]
                arrayCounts[joined] = index + 1
                table = path + ["\(index)"]
                record(table, number)
                record(path, number, keepFirst: true)
            } else if line.hasPrefix("[") {
                table = Self.keyPath(String(line.dropFirst().prefix { $0 != "]" }))
                record(table, number)
            } else if let equals = Self.assignmentIndex(line) {
                let key = Self.keyPath(String(line[..<equals]))
                record(table + key, number)
                let value = line[line.index(after: equals)...].trimmingCharacters(in: " \t")
                for delimiter in ["\"\"\"", "'''"] where value.hasPrefix(delimiter) {
                    if !value.dropFirst(3).contains(delimiter) { inMultilineString = delimiter }
                }
            }
        }
    }

    /// The line of `path`, or of its nearest enclosing table that has one.
    public func line(of path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path.joined(separator: "\u{1F}")] { return line }
            path.removeLast()
        }
        return nil
    }

    private mutating func record(_ path: [String], _ line: Int, keepFirst: Bool = false) {
        let key = path.joined(separator: "\u{1F}")
        if keepFirst, lines[key] != nil { return }
        lines[key] = line
    }

    /// The `=` that ends a key, outside quotes.
    private static func assignmentIndex(_ line: String) -> String.Index? {
        var quote: Character?
        for index in line.indices {
            let c = line[index]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "=" {
                return index
            } else if c == "#" {
                return nil
            }
        }
        return nil
    }

    /// Splits a (possibly dotted, possibly quoted) key into its parts.
    static func keyPath(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character?
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "." {
                parts.append(current.trimmingCharacters(in: " \t"))
                current = ""
            } else {
                current.append(c)
            }
        }
        parts.append(current.trimmingCharacters(in: " \t"))
        return parts
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
