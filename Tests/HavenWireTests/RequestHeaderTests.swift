import Foundation
import HavenProto
import HavenWire
import NIOCore
import SwiftProtobuf
import Testing

/// The hand decoder of ttrpc `Request`s accepts and refuses exactly what
/// SwiftProtobuf does, and reads the same fields.
@Suite struct RequestHeaderTests {
    static let sample = Ttrpc_Request.with {
        $0.service = "haven.v1.Daemon"
        $0.method = "Health"
        $0.payload = Data([0x0A, 0x03, 0x61, 0x62, 0x63])
        $0.timeoutNano = 5_000_000_000
        $0.metadata = [
            .with { $0.key = "authorization"; $0.value = "Bearer hvn_synthetic" },
            .with { $0.key = "x-trace"; $0.value = "é✓" },
        ]
    }

    /// SwiftProtobuf's reading of `bytes`, or nil when it refuses them.
    func reference(_ bytes: [UInt8]) -> RequestHeader? {
        (try? Ttrpc_Request(serializedBytes: bytes)).map(RequestHeader.init)
    }

    func decoded(_ bytes: [UInt8]) -> RequestHeader? {
        try? RequestHeader.decode(ByteBuffer(bytes: bytes))
    }

    @Test func readsEveryFieldOfACanonicalRequest() throws {
        let bytes: [UInt8] = try Self.sample.serializedBytes()
        let header = try RequestHeader.decode(ByteBuffer(bytes: bytes))
        #expect(header.service == "haven.v1.Daemon")
        #expect(header.method == "Health")
        #expect(header.payload == [0x0A, 0x03, 0x61, 0x62, 0x63])
        #expect(header.timeoutNano == 5_000_000_000)
        #expect(header.metadata.map(\.key) == ["authorization", "x-trace"])
        #expect(header.metadata.map(\.value) == ["Bearer hvn_synthetic", "é✓"])
        #expect(try RequestHeader.decode(ByteBuffer()) == RequestHeader())
    }

    @Test func unusualButValidEncodingsReadAsSwiftProtobufReadsThem() throws {
        let canonical: [UInt8] = try Self.sample.serializedBytes()
        let cases: [[UInt8]] = [
            canonical + [0x30, 0x01],                   // an unknown varint field (6)
            canonical + [0x0A, 0x01, 0x78],             // service repeated: the last wins
            [0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // timeout -1
            [0x20, 0x80, 0x00],                         // a non-minimal varint
            [0x2A, 0x00],                               // an empty metadata entry
            [0x2A, 0x02, 0x18, 0x01],                   // a metadata entry with an unknown field
            [0x0B, 0x0C],                               // an empty group (field 1, wrong wire type)
            [0x8A, 0x00, 0x01, 0x78],                   // a padded two-byte tag for field 1
        ]
        for bytes in cases {
            #expect(decoded(bytes) == reference(bytes), "bytes \(bytes)")
        }
    }

    @Test func refusesWhatSwiftProtobufRefuses() {
        let cases: [[UInt8]] = [
            [0x0A, 0x05, 0x61],                         // truncated string
            [0x0A, 0x02, 0xC3, 0x28],                   // invalid UTF-8
            [0x20],                                     // truncated varint
            [0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // an 11-byte varint
            [0x2A, 0x03, 0x0A, 0x05, 0x61],             // a metadata entry whose key overruns it
            [0x00],                                     // field number 0
            [0x8A, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x78],  // a tag padded past five bytes
            [0x2A, 0x07, 0x8A, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00],  // the same inside a metadata entry
        ]
        for bytes in cases {
            #expect(reference(bytes) == nil, "SwiftProtobuf should refuse \(bytes)")
            #expect(throws: (any Error).self, "bytes \(bytes)") { try RequestHeader.decode(ByteBuffer(bytes: bytes)) }
        }
    }

    /// Every one-byte change, truncation and insertion of a canonical
    /// request decodes the same both ways.
    @Test func mutationsOfARequestDecodeAsSwiftProtobufDecodesThem() throws {
        let canonical: [UInt8] = try Self.sample.serializedBytes()
        var generator = SystemRandomNumberGenerator()
        var checked = 0
        for index in canonical.indices {
            for value in [UInt8(0x00), 0x01, 0x02, 0x7F, 0x80, 0xFF, UInt8.random(in: 0...255, using: &generator)] {
                var changed = canonical
                changed[index] = value
                var inserted = canonical
                inserted.insert(value, at: index)
                for bytes in [changed, inserted, Array(canonical[..<index])] {
                    #expect(decoded(bytes) == reference(bytes), "bytes \(bytes)")
                    checked += 1
                }
            }
        }
        #expect(checked > 1000)
    }
}
