/// One problem in a JSON document, at a JSON path such as `$.item[3].linkId`.
public struct JSONProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Collects problems while a document is read, so one pass reports them all.
public final class JSONProblems: @unchecked Sendable {
    public private(set) var all: [JSONProblem] = []
    public init() {}
    public func add(_ path: String, _ message: String) { all.append(JSONProblem(path: path, message: message)) }
    public var isEmpty: Bool { all.isEmpty }
}

/// A position in a JSON document, for reading it with typed accessors that
/// record what was expected and where, instead of failing at the first problem.
public struct JSONCursor {
    public let value: JSONValue?
    public let path: String
    public let problems: JSONProblems

    public init(_ value: JSONValue, problems: JSONProblems = JSONProblems(), path: String = "$") {
        self.value = value
        self.path = path
        self.problems = problems
    }

    init(value: JSONValue?, path: String, problems: JSONProblems) {
        self.value = value
        self.path = path
        self.problems = problems
    }

    public var exists: Bool { value != nil && value != .null }

    public subscript(key: String) -> JSONCursor {
        JSONCursor(value: value?[key], path: "\(path).\(key)", problems: problems)
    }

    public func problem(_ message: String) { problems.add(path, message) }

    /// A string, or nil; a present value of another type is a problem.
    public func string(required: Bool = false) -> String? {
        switch value {
        case .string(let s)?: return s
        case nil, .null?:
            if required { problem("a string is required") }
            return nil
        case let other?:
            problem("expected a string, found \(other.typeName)")
            return nil
        }
    }

    public func bool() -> Bool? {
        switch value {
        case .bool(let b)?: return b
        case nil, .null?: return nil
        case let other?:
            problem("expected true or false, found \(other.typeName)")
            return nil
        }
    }

    public func number(required: Bool = false) -> Double? {
        switch value {
        case .number?: return value?.doubleValue
        case nil, .null?:
            if required { problem("a number is required") }
            return nil
        case let other?:
            problem("expected a number, found \(other.typeName)")
            return nil
        }
    }

    /// The elements of an array (none when absent; a problem when not an array).
    public func elements(required: Bool = false) -> [JSONCursor] {
        switch value {
        case .array(let items)?:
            return items.enumerated().map { JSONCursor(value: $1, path: "\(path)[\($0)]", problems: problems) }
        case nil, .null?:
            if required { problem("an array is required") }
            return []
        case let other?:
            problem("expected an array, found \(other.typeName)")
            return []
        }
    }

    public func strings() -> [String] {
        elements().compactMap { $0.string() }
    }

    public var isObject: Bool { if case .object? = value { true } else { false } }

    public var keys: [String] { value?.objectValue?.map(\.key) ?? [] }

    /// Reports members not in `known`.
    public func rejectUnknownKeys(_ known: Set<String>) {
        for key in keys where !known.contains(key) {
            problems.add("\(path).\(key)", "unknown key; expected one of \(known.sorted().joined(separator: ", "))")
        }
    }
}
