import Foundation
import HavenProto
import NIOCore

/// A decoded ttrpc `Request`: what the server needs of each call, without a
/// `SwiftProtobuf.Message` (a message, a `Data` payload and a metadata array
/// per call cost more than the rest of a cheap call's decoding).
public struct RequestHeader: Sendable, Equatable {
    public var service = ""
    public var method = ""
    public var payload: [UInt8] = []
    public var timeoutNano: Int64 = 0
    public var metadata: [(key: String, value: String)] = []

    public init() {}

    public init(_ request: Ttrpc_Request) {
        service = request.service
        method = request.method
        payload = Array(request.payload)
        timeoutNano = request.timeoutNano
        metadata = request.metadata.map { ($0.key, $0.value) }
    }

    public static func == (lhs: RequestHeader, rhs: RequestHeader) -> Bool {
        lhs.service == rhs.service && lhs.method == rhs.method && lhs.payload == rhs.payload && lhs.timeoutNano == rhs.timeoutNano
            && lhs.metadata.elementsEqual(rhs.metadata) { $0.key == $1.key && $0.value == $1.value }
    }

    /// Decodes a `Request` as SwiftProtobuf would. Requests as clients write
    /// them (the five known fields, each with its own wire type) are read
    /// directly; anything else — an unknown field, a group, a malformed or
    /// truncated field, bad UTF-8 — goes to SwiftProtobuf, so what is
    /// accepted, and every error, is exactly its.
    public static func decode(_ data: ByteBuffer) throws -> RequestHeader {
        if let header = data.readableBytesView.withContiguousStorageIfAvailable({ bytes in
            var reader = CanonicalReader(bytes: UnsafeRawBufferPointer(bytes))
            return reader.request()
        }) ?? nil {
            return header
        }
        return RequestHeader(try Ttrpc_Request(serializedBytes: Array(data.readableBytesView)))
    }
}

/// Reads only the canonical encoding of a `Request`; returns nil at the first
/// thing it does not expect, so the caller can hand the bytes to SwiftProtobuf.
private struct CanonicalReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func request() -> RequestHeader? {
        var header = RequestHeader()
        while offset < bytes.count {
            guard let tag = tag() else { return nil }
            switch tag {
            case 1 << 3 | 2: guard let value = string() else { return nil }; header.service = value
            case 2 << 3 | 2: guard let value = string() else { return nil }; header.method = value
            case 3 << 3 | 2: guard let value = field() else { return nil }; header.payload = Array(value)
            case 4 << 3 | 0: guard let value = varint() else { return nil }; header.timeoutNano = Int64(bitPattern: value)
            case 5 << 3 | 2:
                guard let entry = field() else { return nil }
                var inner = CanonicalReader(bytes: entry)
                guard let pair = inner.keyValue() else { return nil }
                header.metadata.append(pair)
            default: return nil
            }
        }
        return header
    }

    private mutating func keyValue() -> (key: String, value: String)? {
        var key = "", value = ""
        while offset < bytes.count {
            guard let tag = tag() else { return nil }
            switch tag {
            case 1 << 3 | 2: guard let text = string() else { return nil }; key = text
            case 2 << 3 | 2: guard let text = string() else { return nil }; value = text
            default: return nil
            }
        }
        return (key, value)
    }

    /// A field's tag. Every tag of a `Request` and its `KeyValue` fits in
    /// one byte; a longer (padded) tag goes to SwiftProtobuf, whose tag
    /// rules differ from its varint rules (at most five bytes).
    private mutating func tag() -> UInt64? {
        guard offset < bytes.count, bytes[offset] < 0x80 else { return nil }
        offset += 1
        return UInt64(bytes[offset - 1])
    }

    /// A varint of at most ten bytes whose value fits in 64 bits.
    private mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            if shift == 63, byte > 1 { return nil }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }

    /// A length-delimited field's bytes.
    private mutating func field() -> UnsafeRawBufferPointer? {
        guard let length = varint(), length <= UInt64(bytes.count - offset) else { return nil }
        let start = offset
        offset += Int(length)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<offset])
    }

    private mutating func string() -> String? {
        guard let raw = field() else { return nil }
        return String(validating: raw, as: UTF8.self)
    }
}
