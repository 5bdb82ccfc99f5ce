import Foundation
import TOMLKit

/// A parsed TOML file: its values, and where each key is written.
public struct ConfigDocument: Sendable {
    /// How the file is named in error messages (its path, or "embedded default").
    public let name: String
    public let root: [String: ConfigValue]
    public let index: KeyLineIndex

    /// Parses TOML text. A syntax error is reported with its line and column.
    public init(text: String, name: String) throws(ConfigError) {
        if let (line, column, message) = TOMLPrecheck.problem(text) {
            throw ConfigError(issues: [ConfigIssue(file: name, line: line, key: "", message: "not valid TOML at column \(column): \(message)")])
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(issues: [ConfigIssue(
                file: name, line: error.source.begin.line, key: "",
                message: "not valid TOML at column \(error.source.begin.column): \(error.description)")])
        } catch {
            throw ConfigError(issues: [ConfigIssue(file: name, line: nil, key: "", message: "not valid TOML: \(error)")])
        }
        self.name = name
        self.root = Self.convert(table)
        self.index = KeyLineIndex(text: text)
    }

    /// Reads and parses a file.
    public init(contentsOf path: String) throws(ConfigError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(issues: [ConfigIssue(file: path, line: nil, key: "", message: "could not read the file: \(error.localizedDescription)")])
        }
        try self.init(text: text, name: path)
    }

    /// A reader over the whole document that collects every problem.
    public func reader() -> ConfigSection {
        ConfigSection(document: self, path: [], table: root, issues: IssueCollector())
    }

    private static func convert(_ table: TOMLTable) -> [String: ConfigValue] {
        var result: [String: ConfigValue] = [:]
        for key in table.keys {
            if let value = table[key] { result[key] = convert(value) }
        }
        return result
    }

    private static func convert(_ value: TOMLValueConvertible) -> ConfigValue {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .integer(value.int ?? 0)
        case .double: return .float(value.double ?? 0)
        case .bool: return .boolean(value.bool ?? false)
        case .table: return .table(value.table.map(convert) ?? [:])
        case .array: return .array(value.array.map { $0.map(convert) } ?? [])
        case .date: return .datetime(value.date.map { String(format: "%04d-%02d-%02d", $0.year, $0.month, $0.day) } ?? "")
        case .time: return .datetime(value.time.map { String(format: "%02d:%02d:%02d", $0.hour, $0.minute, $0.second) } ?? "")
        case .dateTime: return .datetime(value.debugDescription)
        }
    }
}
