/// A TOML value, copied out of the parser into plain Swift values so the rest
/// of Haven never depends on the parser's types.
public indirect enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    /// Dates, times and date-times, in their TOML text form (e.g. "2026-09-01").
    case datetime(String)
    case array([ConfigValue])
    case table([String: ConfigValue])

    /// The TOML name of the type, for error messages.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .datetime: "date/time"
        case .array: "array"
        case .table: "table"
        }
    }
}
