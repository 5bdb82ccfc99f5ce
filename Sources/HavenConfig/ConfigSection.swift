/// Collects problems across every section read from one document.
public final class IssueCollector {
    public private(set) var issues: [ConfigIssue] = []
    init() {}
    func add(_ issue: ConfigIssue) { issues.append(issue) }
}

/// A table of a config document, read with typed accessors. A missing key
/// reads as nil; a key of the wrong type is recorded as an issue (with its
/// line) and reads as nil, so one pass reports every problem at once.
/// Call `rejectUnknownKeys()` when done to report keys nobody read.
public struct ConfigSection {
    public let document: ConfigDocument
    public let path: [String]
    public let table: [String: ConfigValue]
    let issues: IssueCollector
    private let readKeys = KeyTracker()

    init(document: ConfigDocument, path: [String], table: [String: ConfigValue], issues: IssueCollector) {
        self.document = document
        self.path = path
        self.table = table
        self.issues = issues
    }

    /// An empty section standing for a table the file does not have.
    func empty(at path: [String]) -> ConfigSection {
        ConfigSection(document: document, path: path, table: [:], issues: issues)
    }

    /// The dotted name of a key in this section, e.g. "plugins.referrals.rules".
    public func keyName(_ key: String) -> String { (path + [key]).joined(separator: ".") }

    public var keys: [String] { table.keys.sorted() }

    public func contains(_ key: String) -> Bool {
        readKeys.insert(key)
        return table[key] != nil
    }

    /// Records a problem with `key` (or the section itself when nil).
    public func report(_ key: String?, _ message: String) {
        let full = key.map { path + [$0] } ?? path
        issues.add(ConfigIssue(file: document.name, line: document.index.line(of: full), key: full.joined(separator: "."), message: message))
    }

    private func value(_ key: String) -> ConfigValue? {
        readKeys.insert(key)
        return table[key]
    }

    private func typed<T>(_ key: String, _ expected: String, _ extract: (ConfigValue) -> T?) -> T? {
        guard let raw = value(key) else { return nil }
        guard let value = extract(raw) else {
            report(key, "expected \(expected), found \(raw.typeName)")
            return nil
        }
        return value
    }

    public func string(_ key: String) -> String? {
        typed(key, "a string") { if case .string(let s) = $0 { s } else { nil } }
    }

    /// A string that must be one of `allowed`.
    public func string(_ key: String, oneOf allowed: [String]) -> String? {
        guard let value = string(key) else { return nil }
        guard allowed.contains(value) else {
            report(key, "expected one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), found \"\(value)\"")
            return nil
        }
        return value
    }

    public func integer(_ key: String, range: ClosedRange<Int>? = nil) -> Int? {
        guard let value = typed(key, "an integer", { if case .integer(let i) = $0 { i } else { nil } }) else { return nil }
        if let range, !range.contains(value) {
            report(key, "expected an integer from \(range.lowerBound) to \(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    public func bool(_ key: String) -> Bool? {
        typed(key, "true or false") { if case .boolean(let b) = $0 { b } else { nil } }
    }

    public func stringArray(_ key: String) -> [String]? {
        guard let raw = value(key) else { return nil }
        guard case .array(let items) = raw else {
            report(key, "expected an array of strings, found \(raw.typeName)")
            return nil
        }
        var strings: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else {
                report(key, "expected an array of strings, but item \(i + 1) is a \(item.typeName)")
                return nil
            }
            strings.append(s)
        }
        return strings
    }

    public func integerArray(_ key: String) -> [Int]? {
        guard let raw = value(key) else { return nil }
        guard case .array(let items) = raw else {
            report(key, "expected an array of integers, found \(raw.typeName)")
            return nil
        }
        var result: [Int] = []
        for (i, item) in items.enumerated() {
            guard case .integer(let n) = item else {
                report(key, "expected an array of integers, but item \(i + 1) is a \(item.typeName)")
                return nil
            }
            result.append(n)
        }
        return result
    }

    /// A sub-table. A missing one reads as an empty section.
    public func section(_ key: String) -> ConfigSection {
        guard let raw = value(key) else { return empty(at: path + [key]) }
        guard case .table(let table) = raw else {
            report(key, "expected a table, found \(raw.typeName)")
            return empty(at: path + [key])
        }
        return ConfigSection(document: document, path: path + [key], table: table, issues: issues)
    }

    /// An array of tables (`[[key]]`), each as a section.
    public func sections(_ key: String) -> [ConfigSection] {
        guard let raw = value(key) else { return [] }
        guard case .array(let items) = raw else {
            report(key, "expected an array of tables, found \(raw.typeName)")
            return []
        }
        var result: [ConfigSection] = []
        for (i, item) in items.enumerated() {
            guard case .table(let table) = item else {
                report(key, "expected an array of tables, but item \(i + 1) is a \(item.typeName)")
                continue
            }
            result.append(ConfigSection(document: document, path: path + [key, "\(i)"], table: table, issues: issues))
        }
        return result
    }

    /// Reports every key of this section that no accessor asked for.
    public func rejectUnknownKeys(hint: String? = nil) {
        for key in keys where !readKeys.contains(key) {
            report(key, "unknown key" + (hint.map { "; \($0)" } ?? ""))
        }
    }

    /// Every issue recorded so far in the whole document.
    public var allIssues: [ConfigIssue] { issues.issues }

    /// Throws every recorded issue, sorted by line, if there are any.
    public func throwIfIssues() throws(ConfigError) {
        let all = issues.issues
        guard !all.isEmpty else { return }
        throw ConfigError(issues: all.sorted { ($0.line ?? 0, $0.key) < ($1.line ?? 0, $1.key) })
    }
}

/// Which keys of a section have been read (shared by copies of the section).
final class KeyTracker {
    private var keys: Set<String> = []
    func insert(_ key: String) { keys.insert(key) }
    func contains(_ key: String) -> Bool { keys.contains(key) }
}
