import Foundation
import HavenJSON
import HavenWire
import SwiftProtobuf

/// Checks what a decoded request holds that protobuf's own rules let
/// through but Haven cannot store faithfully, naming the field:
///
/// - **A NUL character (U+0000) in text** — a field, a list item, a map key
///   or value. SQLite stores text bound as a C string, so a NUL would cut it
///   short silently; in an audit entry (a purpose, a reason) the entry's hash
///   covers the whole string and `haven audit verify` would then report a
///   change nobody made. Bytes fields may hold zeros.
/// - **A timestamp outside protobuf's range** (years 1–9999, nanos
///   0–999,999,999), which SwiftProtobuf decodes without complaint.
enum RequestValues {
    /// Throws INVALID_ARGUMENT for the first such value, naming its field.
    static func check<M: SwiftProtobuf.Message>(_ message: M, method: String) throws {
        guard let problem = problem(in: message) else { return }
        throw RPCError.invalidArgument("\(problem); \(method) changed nothing")
    }

    /// The first problem, as "<field path>: <what is wrong>", or nil.
    static func problem<M: SwiftProtobuf.Message>(in message: M) -> String? {
        var finder = ProblemFinder(root: M.self)
        try? message.traverse(visitor: &finder)
        return finder.found
    }
}

/// Walks a message's set fields, keeping the path in proto field names.
private struct ProblemFinder: SwiftProtobuf.Visitor {
    private(set) var found: String?
    /// The message types from the request down to the one being walked.
    private var types: [any SwiftProtobuf.Message.Type]
    /// The field each type after the first was reached by, in its parent
    /// (`types[i]`); named only when a problem is found.
    private var path: [(number: Int, suffix: String)] = []

    init(root: any SwiftProtobuf.Message.Type) { types = [root] }

    private func place(_ fieldNumber: Int, _ kind: FieldName.Kind, _ suffix: String = "") -> String {
        let above = zip(types, path).map { FieldName.of($1.number, in: $0, .message) + $1.suffix }
        return (above + [FieldName.of(fieldNumber, in: types.last!, kind) + suffix]).joined(separator: ".")
    }

    private mutating func checkText(_ text: String, _ fieldNumber: Int, _ suffix: String = "", kind: FieldName.Kind = .text) {
        if found == nil, text.utf8.contains(0) {
            found = "\(place(fieldNumber, kind, suffix)): text may not contain a NUL character (U+0000)"
        }
    }

    private mutating func descend<M: SwiftProtobuf.Message>(_ message: M, _ fieldNumber: Int, _ suffix: String = "") throws {
        guard found == nil else { return }
        if let time = message as? Google_Protobuf_Timestamp {
            if !(-62_135_596_800...253_402_300_799).contains(time.seconds) || !(0...999_999_999).contains(time.nanos) {
                found = "\(place(fieldNumber, .message, suffix)): not a valid time (seconds \(time.seconds), nanos \(time.nanos))"
            }
            return
        }
        path.append((fieldNumber, suffix))
        types.append(M.self)
        try message.traverse(visitor: &self)
        types.removeLast()
        path.removeLast()
    }

    mutating func visitSingularStringField(value: String, fieldNumber: Int) throws { checkText(value, fieldNumber) }
    mutating func visitRepeatedStringField(value: [String], fieldNumber: Int) throws {
        for (index, text) in value.enumerated() { checkText(text, fieldNumber, "[\(index)]") }
    }
    mutating func visitSingularMessageField<M: SwiftProtobuf.Message>(value: M, fieldNumber: Int) throws {
        try descend(value, fieldNumber)
    }
    mutating func visitRepeatedMessageField<M: SwiftProtobuf.Message>(value: [M], fieldNumber: Int) throws {
        for (index, message) in value.enumerated() { try descend(message, fieldNumber, "[\(index)]") }
    }
    mutating func visitSingularGroupField<G: SwiftProtobuf.Message>(value: G, fieldNumber: Int) throws {
        try descend(value, fieldNumber)
    }
    mutating func visitRepeatedGroupField<G: SwiftProtobuf.Message>(value: [G], fieldNumber: Int) throws {
        for (index, message) in value.enumerated() { try descend(message, fieldNumber, "[\(index)]") }
    }
    // A map entry is never named by its key (the client's text, maybe the
    // very NUL) nor by position (a dictionary has no order): "a key", "a value".
    mutating func visitMapField<KeyType, ValueType: MapValueType>(
        fieldType: _ProtobufMap<KeyType, ValueType>.Type, value: _ProtobufMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws {
        for (key, entry) in value {
            if let key = key as? String { checkText(key, fieldNumber, " (a key)", kind: .message) }
            if let entry = entry as? String { checkText(entry, fieldNumber, " (a value)", kind: .message) }
        }
    }
    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufEnumMap<KeyType, ValueType>.Type, value: _ProtobufEnumMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws where ValueType.RawValue == Int {
        for key in value.keys { if let key = key as? String { checkText(key, fieldNumber, " (a key)", kind: .message) } }
    }
    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufMessageMap<KeyType, ValueType>.Type, value: _ProtobufMessageMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws {
        for (key, entry) in value {
            if let key = key as? String { checkText(key, fieldNumber, " (a key)", kind: .message) }
            try descend(entry, fieldNumber, " (a value)")
        }
    }

    // Nothing else can hold text or a time.
    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws {}
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws {}
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws {}
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws {}
    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws {}
    mutating func visitSingularEnumField<E: SwiftProtobuf.Enum>(value: E, fieldNumber: Int) throws {}
    mutating func visitUnknown(bytes: Data) throws {}
}

/// A field's proto name from its number. SwiftProtobuf keeps its name
/// tables to itself, so the name is read back from JSON: a message holding
/// only that field (a one-letter string, or an empty message), written with
/// proto field names, has exactly one key. Falls back to "field N".
enum FieldName {
    /// A text field, or a field whose value is length-delimited and may be
    /// empty: a message, or a map (an empty entry).
    enum Kind { case text, message }

    static func of(_ number: Int, in type: any SwiftProtobuf.Message.Type, _ kind: Kind) -> String {
        let value: [UInt8] = kind == .text ? [0x01, UInt8(ascii: "x")] : [0x00]
        var bytes = varint(UInt64(number) << 3 | 2)
        bytes += value
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        guard let message = try? type.init(serializedBytes: bytes), let json = try? message.jsonString(options: options),
              case .object(let members)? = try? JSONParser.parse(json), members.count == 1 else { return "field \(number)" }
        return members[0].key
    }

    private static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }
}
