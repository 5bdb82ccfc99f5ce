import Foundation
import HavenJSON
import HavenWire
import SwiftProtobuf

/// Refuses requests with a NUL character (U+0000) in any text field.
///
/// SQLite stores text bound as a C string, so a NUL would silently cut the
/// value short; where the value is part of an audit entry (a purpose, a
/// reason), the entry's hash covers the whole string and `haven audit verify`
/// would then report a change nobody made. No text a person types contains a
/// NUL, so it is refused at the door, naming the field.
enum TextWithoutNUL {
    /// Throws INVALID_ARGUMENT naming the first text field that holds a NUL.
    static func check<M: SwiftProtobuf.Message>(_ message: M, encoded bytes: [UInt8], method: String) throws {
        // A NUL in a string is a zero byte on the wire; most requests have none.
        guard bytes.contains(0), let field = field(containingNULIn: message) else { return }
        throw RPCError.invalidArgument("\(field): text may not contain a NUL character (U+0000); \(method) changed nothing")
    }

    /// Where the first string holding a NUL is (a field, a list item, a map
    /// key or value, at any depth), or nil if none does. Found by walking
    /// the message itself, so nothing can hide it; named in proto field
    /// names (`student_ids[1]`) when the message can be written as JSON, by
    /// field numbers otherwise.
    static func field<M: SwiftProtobuf.Message>(containingNULIn message: M) -> String? {
        var finder = NULFinder()
        try? message.traverse(visitor: &finder)
        guard let numbered = finder.found else { return nil }
        return namedPath(message) ?? numbered
    }

    /// The same place in proto field names, from the message's JSON form.
    /// (SwiftProtobuf keeps field names to itself; JSON is its public way
    /// to them.) Bytes fields are base64 in JSON and never match.
    private static func namedPath<M: SwiftProtobuf.Message>(_ message: M) -> String? {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        guard let json = try? message.jsonString(options: options), let value = try? JSONParser.parse(json) else { return nil }
        return path(toNULIn: value, at: "")
    }

    private static func path(toNULIn value: JSONValue, at path: String) -> String? {
        switch value {
        case .string(let text):
            return text.utf8.contains(0) ? path : nil
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = Self.path(toNULIn: item, at: "\(path)[\(index)]") { return found }
            }
            return nil
        case .object(let members):
            for (key, member) in members {
                if key.utf8.contains(0) { return path.isEmpty ? "a map key" : "\(path) (a key)" }
                let here = path.isEmpty ? printable(key) : "\(path).\(printable(key))"
                if let found = Self.path(toNULIn: member, at: here) { return found }
            }
            return nil
        case .null, .bool, .number:
            return nil
        }
    }

    /// A map key as it may appear in an error: control characters escaped.
    private static func printable(_ key: String) -> String {
        String(String.UnicodeScalarView(key.unicodeScalars.flatMap { $0.value < 0x20 || $0.value == 0x7F ? Array($0.escaped(asASCII: true).unicodeScalars) : [$0] }))
    }
}

/// Walks a message's set fields and records the first string with a NUL,
/// as a path of field numbers (`field 3[1].field 2`).
private struct NULFinder: SwiftProtobuf.Visitor {
    var found: String?
    private var path: [String] = []

    private mutating func check(_ text: String, _ place: String) {
        if found == nil, text.utf8.contains(0) { found = (path + [place]).joined(separator: ".") }
    }

    private mutating func descend<M: SwiftProtobuf.Message>(_ message: M, _ place: String) throws {
        guard found == nil else { return }
        path.append(place)
        try message.traverse(visitor: &self)
        path.removeLast()
    }

    mutating func visitSingularStringField(value: String, fieldNumber: Int) throws { check(value, "field \(fieldNumber)") }
    mutating func visitRepeatedStringField(value: [String], fieldNumber: Int) throws {
        for (index, text) in value.enumerated() { check(text, "field \(fieldNumber)[\(index)]") }
    }
    mutating func visitSingularMessageField<M: SwiftProtobuf.Message>(value: M, fieldNumber: Int) throws {
        try descend(value, "field \(fieldNumber)")
    }
    mutating func visitRepeatedMessageField<M: SwiftProtobuf.Message>(value: [M], fieldNumber: Int) throws {
        for (index, message) in value.enumerated() { try descend(message, "field \(fieldNumber)[\(index)]") }
    }
    mutating func visitSingularGroupField<G: SwiftProtobuf.Message>(value: G, fieldNumber: Int) throws {
        try descend(value, "field \(fieldNumber)")
    }
    mutating func visitRepeatedGroupField<G: SwiftProtobuf.Message>(value: [G], fieldNumber: Int) throws {
        for (index, message) in value.enumerated() { try descend(message, "field \(fieldNumber)[\(index)]") }
    }
    mutating func visitMapField<KeyType, ValueType: MapValueType>(
        fieldType: _ProtobufMap<KeyType, ValueType>.Type, value: _ProtobufMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws {
        for (key, entry) in value {
            if let key = key as? String { check(key, "field \(fieldNumber) (a key)") }
            if let entry = entry as? String { check(entry, "field \(fieldNumber)[a key]") }
        }
    }
    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufEnumMap<KeyType, ValueType>.Type, value: _ProtobufEnumMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws where ValueType.RawValue == Int {
        for key in value.keys { if let key = key as? String { check(key, "field \(fieldNumber) (a key)") } }
    }
    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufMessageMap<KeyType, ValueType>.Type, value: _ProtobufMessageMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws {
        for (key, entry) in value {
            if let key = key as? String { check(key, "field \(fieldNumber) (a key)") }
            try descend(entry, "field \(fieldNumber)[a key]")
        }
    }

    // Nothing else can hold text.
    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws {}
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws {}
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws {}
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws {}
    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws {}
    mutating func visitSingularEnumField<E: SwiftProtobuf.Enum>(value: E, fieldNumber: Int) throws {}
    mutating func visitUnknown(bytes: Data) throws {}
}
