import Foundation
import HavenJSON
import SwiftProtobuf
import HavenTime

/// A value that does not fit its message type, located by its JSON path.
public struct TranscodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

/// Converts between proto3 JSON and protobuf binary using only descriptors,
/// as grpcurl does: the generic `haven call` can then call methods the CLI
/// was never compiled against. Follows the proto3 JSON mapping: lowerCamelCase
/// names (the original names are accepted too), 64-bit integers as strings,
/// enums by name, bytes as base64, Timestamp and Duration as strings.
public struct ProtoJSONTranscoder: Sendable {
    public let pool: DescriptorPool
    public var emitDefaults: Bool

    public init(pool: DescriptorPool, emitDefaults: Bool = false) {
        self.pool = pool
        self.emitDefaults = emitDefaults
    }

    typealias Field = Google_Protobuf_FieldDescriptorProto

    // MARK: JSON -> binary

    public func encode(_ json: JSONValue, as typeName: String) throws -> [UInt8] {
        try encodeMessage(json, typeName: typeName, path: "$")
    }

    private func message(_ typeName: String, _ path: String) throws -> Google_Protobuf_DescriptorProto {
        guard let message = pool.messages[typeName] else {
            throw TranscodingError(path: path, message: "message type \(typeName) is not described by the daemon")
        }
        return message
    }

    private func encodeMessage(_ json: JSONValue, typeName: String, path: String) throws -> [UInt8] {
        if let special = try encodeWellKnown(json, typeName: typeName, path: path) { return special }
        let descriptor = try message(typeName, path)
        guard case .object(let members) = json else {
            throw TranscodingError(path: path, message: "expected an object (\(typeName)), found \(json.typeName)")
        }
        var writer = WireWriter()
        for (key, value) in members {
            guard let field = descriptor.field.first(where: { $0.jsonName == key || $0.name == key }) else {
                let known = descriptor.field.map(\.jsonName).joined(separator: ", ")
                throw TranscodingError(path: "\(path).\(key)", message: "\(typeName) has no field \"\(key)\" (fields: \(known.isEmpty ? "none" : known))")
            }
            if case .null = value { continue }
            try encodeField(field, value, path: "\(path).\(key)", into: &writer)
        }
        return writer.bytes
    }

    private func isMapField(_ field: Field) -> Google_Protobuf_DescriptorProto? {
        guard field.label == .repeated, field.type == .message,
              let entry = pool.messages[DescriptorPool.typeName(field.typeName)], entry.options.mapEntry else { return nil }
        return entry
    }

    private func encodeField(_ field: Field, _ value: JSONValue, path: String, into writer: inout WireWriter) throws {
        if let entry = isMapField(field) {
            guard case .object(let members) = value else {
                throw TranscodingError(path: path, message: "expected an object (a map), found \(value.typeName)")
            }
            let keyField = entry.field.first { $0.number == 1 }!
            let valueField = entry.field.first { $0.number == 2 }!
            for (key, item) in members {
                var entryWriter = WireWriter()
                let keyJSON: JSONValue = keyField.type == .bool ? .bool(key == "true") : (keyField.type == .string ? .string(key) : .number(key))
                try encodeSingle(keyField, keyJSON, path: "\(path).\(key)", into: &entryWriter)
                try encodeSingle(valueField, item, path: "\(path).\(key)", into: &entryWriter)
                writer.tag(field.number, .lengthDelimited)
                writer.lengthDelimited(entryWriter.bytes)
            }
            return
        }
        if field.label == .repeated {
            guard case .array(let items) = value else {
                throw TranscodingError(path: path, message: "expected an array, found \(value.typeName)")
            }
            if Self.isPackable(field.type) {
                var packed = WireWriter()
                for (i, item) in items.enumerated() {
                    try encodeScalarValue(field, item, path: "\(path)[\(i)]", into: &packed)
                }
                writer.tag(field.number, .lengthDelimited)
                writer.lengthDelimited(packed.bytes)
            } else {
                for (i, item) in items.enumerated() {
                    try encodeSingle(field, item, path: "\(path)[\(i)]", into: &writer)
                }
            }
            return
        }
        try encodeSingle(field, value, path: path, into: &writer)
    }

    private static func isPackable(_ type: Field.TypeEnum) -> Bool {
        switch type {
        case .string, .bytes, .message, .group: false
        default: true
        }
    }

    private static func wireType(_ type: Field.TypeEnum) -> WireType {
        switch type {
        case .double, .fixed64, .sfixed64: .fixed64
        case .float, .fixed32, .sfixed32: .fixed32
        case .string, .bytes, .message, .group: .lengthDelimited
        default: .varint
        }
    }

    private func encodeSingle(_ field: Field, _ value: JSONValue, path: String, into writer: inout WireWriter) throws {
        switch field.type {
        case .message, .group:
            let bytes = try encodeMessage(value, typeName: DescriptorPool.typeName(field.typeName), path: path)
            writer.tag(field.number, .lengthDelimited)
            writer.lengthDelimited(bytes)
        case .string:
            guard case .string(let s) = value else { throw TranscodingError(path: path, message: "expected a string, found \(value.typeName)") }
            writer.tag(field.number, .lengthDelimited)
            writer.lengthDelimited(Array(s.utf8))
        case .bytes:
            guard case .string(let s) = value, let data = Data(base64Encoded: s) else {
                throw TranscodingError(path: path, message: "expected base64 text for bytes")
            }
            writer.tag(field.number, .lengthDelimited)
            writer.lengthDelimited(Array(data))
        default:
            writer.tag(field.number, Self.wireType(field.type))
            try encodeScalarValue(field, value, path: path, into: &writer)
        }
    }

    private func integer<T: FixedWidthInteger>(_ value: JSONValue, _ type: T.Type, path: String) throws -> T {
        let text: String
        switch value {
        case .number(let n): text = n
        case .string(let s): text = s
        default: throw TranscodingError(path: path, message: "expected an integer, found \(value.typeName)")
        }
        if let v = T(text) { return v }
        if let d = Double(text), d.rounded() == d, let v = T(exactly: d) { return v }
        throw TranscodingError(path: path, message: "\(text) is not a valid \(T.self) value")
    }

    private func floating(_ value: JSONValue, path: String) throws -> Double {
        switch value {
        case .number(let n): if let d = Double(n) { return d }
        case .string("NaN"): return .nan
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        case .string(let s): if let d = Double(s) { return d }
        default: break
        }
        throw TranscodingError(path: path, message: "expected a number, found \(value.typeName)")
    }

    private func encodeScalarValue(_ field: Field, _ value: JSONValue, path: String, into writer: inout WireWriter) throws {
        switch field.type {
        case .double: writer.fixed64(try floating(value, path: path).bitPattern)
        case .float: writer.fixed32(Float(try floating(value, path: path)).bitPattern)
        case .int64: writer.varint(UInt64(bitPattern: try integer(value, Int64.self, path: path)))
        case .uint64: writer.varint(try integer(value, UInt64.self, path: path))
        case .int32: writer.varint(UInt64(bitPattern: Int64(try integer(value, Int32.self, path: path))))
        case .uint32: writer.varint(UInt64(try integer(value, UInt32.self, path: path)))
        case .fixed64: writer.fixed64(try integer(value, UInt64.self, path: path))
        case .fixed32: writer.fixed32(try integer(value, UInt32.self, path: path))
        case .sfixed64: writer.fixed64(UInt64(bitPattern: try integer(value, Int64.self, path: path)))
        case .sfixed32: writer.fixed32(UInt32(bitPattern: try integer(value, Int32.self, path: path)))
        case .sint64: writer.varint(ZigZag.encode64(try integer(value, Int64.self, path: path)))
        case .sint32: writer.varint(UInt64(ZigZag.encode32(try integer(value, Int32.self, path: path))))
        case .bool:
            guard case .bool(let b) = value else { throw TranscodingError(path: path, message: "expected true or false, found \(value.typeName)") }
            writer.varint(b ? 1 : 0)
        case .enum:
            writer.varint(UInt64(bitPattern: Int64(try enumNumber(field, value, path: path))))
        default:
            throw TranscodingError(path: path, message: "unsupported field type \(field.type)")
        }
    }

    private func enumNumber(_ field: Field, _ value: JSONValue, path: String) throws -> Int32 {
        let typeName = DescriptorPool.typeName(field.typeName)
        guard let e = pool.enums[typeName] else { throw TranscodingError(path: path, message: "enum \(typeName) is not described") }
        switch value {
        case .string(let name):
            if let v = e.value.first(where: { $0.name == name }) { return v.number }
            throw TranscodingError(path: path, message: "\"\(name)\" is not a value of \(typeName) (values: \(e.value.map(\.name).joined(separator: ", ")))")
        case .number:
            return try integer(value, Int32.self, path: path)
        default:
            throw TranscodingError(path: path, message: "expected an enum name, found \(value.typeName)")
        }
    }

    private func encodeWellKnown(_ json: JSONValue, typeName: String, path: String) throws -> [UInt8]? {
        switch typeName {
        case "google.protobuf.Timestamp":
            guard case .string(let text) = json else { throw TranscodingError(path: path, message: "expected an RFC 3339 timestamp string, e.g. \"2026-11-30T14:40:00Z\"") }
            // To the millisecond, as Haven stores times.
            guard let ms = RFC3339.parseMilliseconds(text) else { throw TranscodingError(path: path, message: "\"\(text)\" is not an RFC 3339 timestamp, e.g. \"2026-11-30T14:40:00Z\"") }
            let (seconds, millis) = RFC3339.split(ms: ms)
            return try Google_Protobuf_Timestamp(seconds: seconds, nanos: Int32(millis) * 1_000_000).serializedBytes()
        case "google.protobuf.Duration":
            guard case .string(let text) = json, text.hasSuffix("s"), let seconds = Double(text.dropLast()) else {
                throw TranscodingError(path: path, message: "expected a duration string such as \"1.5s\"")
            }
            return try Google_Protobuf_Duration(rounding: seconds).serializedBytes()
        default:
            return nil
        }
    }

    // MARK: binary -> JSON

    public func decode(_ bytes: [UInt8], as typeName: String) throws -> JSONValue {
        try decodeMessage(bytes, typeName: typeName, path: "$")
    }

    private func decodeMessage(_ bytes: [UInt8], typeName: String, path: String) throws -> JSONValue {
        if let special = try decodeWellKnown(bytes, typeName: typeName, path: path) { return special }
        let descriptor = try message(typeName, path)
        var values: [Int32: [JSONValue]] = [:]
        var reader = WireReader(bytes)
        while !reader.atEnd {
            let key = try reader.varint()
            let number = Int32(truncatingIfNeeded: key >> 3)
            guard let wire = WireType(rawValue: key & 7) else { throw TranscodingError(path: path, message: "invalid wire type \(key & 7)") }
            guard let field = descriptor.field.first(where: { $0.number == number }) else {
                try reader.skip(wire)
                continue
            }
            let fieldPath = "\(path).\(field.jsonName)"
            if wire == .lengthDelimited, Self.isPackable(field.type) {
                var packed = WireReader(try reader.lengthDelimited())
                while !packed.atEnd {
                    values[number, default: []].append(try decodeScalar(field, Self.wireType(field.type), &packed, path: fieldPath))
                }
            } else {
                values[number, default: []].append(try decodeValue(field, wire, &reader, path: fieldPath))
            }
        }
        var members: [(key: String, value: JSONValue)] = []
        for field in descriptor.field {
            let name = field.jsonName.isEmpty ? field.name : field.jsonName
            if let entry = isMapField(field) {
                let entries = values[field.number] ?? []
                if entries.isEmpty && !emitDefaults { continue }
                let keyName = entry.field.first { $0.number == 1 }!.jsonName
                let valueName = entry.field.first { $0.number == 2 }!.jsonName
                let object: [(key: String, value: JSONValue)] = entries.map { e in
                    let k = e[keyName]
                    let keyText: String = switch k {
                    case .string(let s)?: s
                    case .number(let n)?: n
                    case .bool(let b)?: b ? "true" : "false"
                    default: ""
                    }
                    return (keyText, e[valueName] ?? .null)
                }
                members.append((name, .object(object)))
            } else if field.label == .repeated {
                let items = values[field.number] ?? []
                if items.isEmpty && !emitDefaults { continue }
                members.append((name, .array(items)))
            } else if let last = values[field.number]?.last {
                members.append((name, last))
            } else if emitDefaults, field.type != .message, !field.hasOneofIndex {
                members.append((name, defaultValue(field)))
            }
        }
        return .object(members)
    }

    private func defaultValue(_ field: Field) -> JSONValue {
        switch field.type {
        case .string, .bytes: .string("")
        case .bool: .bool(false)
        case .int64, .uint64, .fixed64, .sfixed64, .sint64: .string("0")
        case .enum: pool.enums[DescriptorPool.typeName(field.typeName)]?.value.first.map { .string($0.name) } ?? .number("0")
        default: .number("0")
        }
    }

    private func decodeValue(_ field: Field, _ wire: WireType, _ reader: inout WireReader, path: String) throws -> JSONValue {
        switch field.type {
        case .message, .group:
            guard wire == .lengthDelimited else { throw TranscodingError(path: path, message: "wrong wire type for a message") }
            return try decodeMessage(try reader.lengthDelimited(), typeName: DescriptorPool.typeName(field.typeName), path: path)
        case .string:
            guard wire == .lengthDelimited else { throw TranscodingError(path: path, message: "wrong wire type for a string") }
            return .string(String(decoding: try reader.lengthDelimited(), as: UTF8.self))
        case .bytes:
            guard wire == .lengthDelimited else { throw TranscodingError(path: path, message: "wrong wire type for bytes") }
            return .string(Data(try reader.lengthDelimited()).base64EncodedString())
        default:
            return try decodeScalar(field, wire, &reader, path: path)
        }
    }

    private func decodeScalar(_ field: Field, _ wire: WireType, _ reader: inout WireReader, path: String) throws -> JSONValue {
        guard wire == Self.wireType(field.type) else {
            throw TranscodingError(path: path, message: "wrong wire type \(wire) for a \(field.type) field")
        }
        switch field.type {
        case .double: return Self.jsonDouble(Double(bitPattern: try reader.fixed64()))
        case .float: return Self.jsonDouble(Double(Float(bitPattern: try reader.fixed32())))
        case .int64: return .string(String(Int64(bitPattern: try reader.varint())))
        case .uint64: return .string(String(try reader.varint()))
        case .int32: return .number(String(Int32(truncatingIfNeeded: Int64(bitPattern: try reader.varint()))))
        case .uint32: return .number(String(UInt32(truncatingIfNeeded: try reader.varint())))
        case .fixed64: return .string(String(try reader.fixed64()))
        case .fixed32: return .number(String(try reader.fixed32()))
        case .sfixed64: return .string(String(Int64(bitPattern: try reader.fixed64())))
        case .sfixed32: return .number(String(Int32(bitPattern: try reader.fixed32())))
        case .sint64: return .string(String(ZigZag.decode64(try reader.varint())))
        case .sint32: return .number(String(ZigZag.decode32(UInt32(truncatingIfNeeded: try reader.varint()))))
        case .bool: return .bool(try reader.varint() != 0)
        case .enum:
            let number = Int32(truncatingIfNeeded: Int64(bitPattern: try reader.varint()))
            if let e = pool.enums[DescriptorPool.typeName(field.typeName)], let v = e.value.first(where: { $0.number == number }) {
                return .string(v.name)
            }
            return .number(String(number))
        default:
            throw TranscodingError(path: path, message: "unsupported field type \(field.type)")
        }
    }

    private static func jsonDouble(_ d: Double) -> JSONValue {
        if d.isNaN { return .string("NaN") }
        if d.isInfinite { return .string(d > 0 ? "Infinity" : "-Infinity") }
        return .number(d)
    }

    /// A Timestamp's defined range (0001-01-01 to 9999-12-31), in seconds.
    static let timestampSeconds: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    private func decodeWellKnown(_ bytes: [UInt8], typeName: String, path: String) throws -> JSONValue? {
        switch typeName {
        case "google.protobuf.Timestamp":
            let ts = try Google_Protobuf_Timestamp(serializedBytes: bytes)
            guard Self.timestampSeconds.contains(ts.seconds), (0..<1_000_000_000).contains(ts.nanos) else {
                throw TranscodingError(path: path, message: "a timestamp outside its range (seconds \(ts.seconds), nanos \(ts.nanos))")
            }
            // To the millisecond, as Haven stores times.
            return .string(RFC3339.format(ms: ts.seconds * 1000 + Int64(ts.nanos / 1_000_000)))
        case "google.protobuf.Duration":
            let d = try Google_Protobuf_Duration(serializedBytes: bytes)
            return .string("\(Double(d.seconds) + Double(d.nanos) / 1e9)s")
        default:
            return nil
        }
    }
}
