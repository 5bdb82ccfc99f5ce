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
        // A NUL in a string is a zero byte on the wire; almost no request has one.
        guard bytes.contains(0), let field = field(containingNULIn: message) else { return }
        throw RPCError.invalidArgument("\(field): text may not contain a NUL character (U+0000); \(method) changed nothing")
    }

    /// The path of the first string (a field, a list item, a map key or
    /// value) holding a NUL, in proto field names: `student_ids[1]`,
    /// `answers[0].text`. Bytes fields may hold zeros: they are base64 in
    /// JSON and never match.
    static func field<M: SwiftProtobuf.Message>(containingNULIn message: M) -> String? {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        guard let json = try? message.jsonString(options: options), json.contains("\\u0000"),
              let value = try? JSONParser.parse(json) else { return nil }
        return path(toNULIn: value, at: "")
    }

    private static func path(toNULIn value: JSONValue, at path: String) -> String? {
        switch value {
        case .string(let text):
            return text.unicodeScalars.contains("\0") ? path : nil
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = Self.path(toNULIn: item, at: "\(path)[\(index)]") { return found }
            }
            return nil
        case .object(let members):
            for (key, member) in members {
                let here = path.isEmpty ? key : "\(path).\(key)"
                if key.unicodeScalars.contains("\0") { return "\(here) (the key)" }
                if let found = Self.path(toNULIn: member, at: here) { return found }
            }
            return nil
        case .null, .bool, .number:
            return nil
        }
    }
}
