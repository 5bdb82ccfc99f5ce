import Foundation
import HavenJSON
import HavenProto
import HavenReflection
import SwiftProtobuf
import Testing

@Suite struct TranscoderTests {
    let pool: DescriptorPool = {
        let data = Data(base64Encoded: HavenProtoDescriptors.fileDescriptorSetBase64)!
        return try! DescriptorPool(serializedFileDescriptorSet: Array(data))
    }()

    @Test func describesTheCoreServices() {
        #expect(pool.method(service: "haven.v1.Daemon", method: "Hello")?.inputType == ".haven.v1.HelloRequest")
        #expect(pool.messages["ttrpc.Request"] != nil)
        #expect(pool.messages["google.protobuf.Timestamp"] != nil, "imports are included")
    }

    @Test func decodesWhatTheGeneratedCodeEncodes() throws {
        var response = Haven_V1_HealthResponse()
        response.status = .serving
        response.components = [.with { $0.name = "database"; $0.healthy = true; $0.detail = "ok" }]
        response.startedAt = Google_Protobuf_Timestamp(seconds: 1_795_000_000, nanos: 0)
        response.uptimeSeconds = 1234
        let json = try ProtoJSONTranscoder(pool: pool).decode(try response.serializedBytes(), as: "haven.v1.HealthResponse")
        #expect(json["status"] == .string("SERVING"))
        #expect(json["components"]?.arrayValue?.first?["healthy"] == .bool(true))
        #expect(json["uptimeSeconds"] == .string("1234"), "int64 is a string in proto3 JSON")
        #expect(json["startedAt"] == .string("2026-11-18T11:06:40Z"))
    }

    @Test func encodesWhatTheGeneratedCodeDecodes() throws {
        let json = try JSONParser.parse("""
            {"protocol": {"min": 1, "max": "2"}, "daemonVersion": "x", "caller": {"roles": ["admin", "nurse"], "uid": 1000},
             "plugins": [{"id": "screening"}], "node_id": "n1"}
            """)
        let bytes = try ProtoJSONTranscoder(pool: pool).encode(json, as: "haven.v1.HelloResponse")
        let hello = try Haven_V1_HelloResponse(serializedBytes: bytes)
        #expect(hello.protocol.max == 2)
        #expect(hello.caller.roles == ["admin", "nurse"])
        #expect(hello.caller.uid == 1000)
        #expect(hello.plugins.first?.id == "screening")
        #expect(hello.nodeID == "n1", "original field names are accepted too")
    }

    @Test func roundTripsEnumsTimestampsAndPackedRepeated() throws {
        let transcoder = ProtoJSONTranscoder(pool: pool)
        let json = try JSONParser.parse(#"{"status": "NOT_SERVING", "startedAt": "2026-11-30T14:40:00Z", "uptimeSeconds": "-5"}"#)
        let bytes = try transcoder.encode(json, as: "haven.v1.HealthResponse")
        let decoded = try Haven_V1_HealthResponse(serializedBytes: bytes)
        #expect(decoded.status == .notServing)
        #expect(decoded.uptimeSeconds == -5)
        #expect(try transcoder.decode(bytes, as: "haven.v1.HealthResponse") == json)
    }

    /// A Timestamp past its range is an error naming the field, not a crash.
    @Test func aTimestampOutOfRangeIsAnError() throws {
        let transcoder = ProtoJSONTranscoder(pool: pool)
        let bytes = try Haven_V1_HealthResponse.with { $0.startedAt = .init(seconds: Int64.max / 2, nanos: 0) }.serializedBytes() as [UInt8]
        #expect { try transcoder.decode(bytes, as: "haven.v1.HealthResponse") } throws: { "\($0)".contains("$.startedAt") && "\($0)".contains("outside its range") }
    }

    /// Haven stores milliseconds; JSON keeps them (whole seconds only, before).
    @Test func timestampsKeepTheirMilliseconds() throws {
        let transcoder = ProtoJSONTranscoder(pool: pool)
        let json = try JSONParser.parse(#"{"startedAt": "2026-11-30T14:40:00.231Z"}"#)
        let bytes = try transcoder.encode(json, as: "haven.v1.HealthResponse")
        #expect(try Haven_V1_HealthResponse(serializedBytes: bytes).startedAt.nanos == 231_000_000)
        #expect(try transcoder.decode(bytes, as: "haven.v1.HealthResponse") == json)
    }

    @Test func errorsNameTheJSONPath() throws {
        let transcoder = ProtoJSONTranscoder(pool: pool)
        #expect(throws: TranscodingError(path: "$.caller.uid", message: "lots is not a valid UInt32 value")) {
            _ = try transcoder.encode(try JSONParser.parse(#"{"caller": {"uid": "lots"}}"#), as: "haven.v1.HelloResponse")
        }
        #expect {
            _ = try transcoder.encode(try JSONParser.parse(#"{"status": "MAYBE"}"#), as: "haven.v1.HealthResponse")
        } throws: { "\($0)".contains("$.status") && "\($0)".contains("SERVING") }
        #expect {
            _ = try transcoder.encode(try JSONParser.parse(#"{"bogus": 1}"#), as: "haven.v1.HelloRequest")
        } throws: { "\($0)".contains("has no field \"bogus\"") }
    }

    @Test func emitDefaultsFillsUnsetScalars() throws {
        let json = try ProtoJSONTranscoder(pool: pool, emitDefaults: true).decode([], as: "haven.v1.ComponentHealth")
        #expect(json == .object([("name", .string("")), ("healthy", .bool(false)), ("detail", .string(""))]))
    }

    @Test func skipsUnknownFieldsWhenDecoding() throws {
        // Field 99, varint 1: from a newer daemon.
        let bytes: [UInt8] = [0x98, 0x06, 0x01, 0x0A, 0x01, 0x78]
        let json = try ProtoJSONTranscoder(pool: pool).decode(bytes, as: "haven.v1.ComponentHealth")
        #expect(json == .object([("name", .string("x"))]))
    }

    @Test func truncatedBinaryIsAnError() {
        #expect(throws: TranscodingError.self) {
            _ = try ProtoJSONTranscoder(pool: pool).decode([0x0A, 0x05, 0x41], as: "haven.v1.ComponentHealth")
        }
    }
}

@Suite struct JSONParserTests {
    @Test func keepsMemberOrderAndNumberText() throws {
        let value = try JSONParser.parse(#"{"b": 1.50, "a": [true, null, "x\u00e9\n"]}"#)
        #expect(value.objectValue?.map(\.key) == ["b", "a"])
        #expect(value["b"] == .number("1.50"))
        #expect(value["a"]?.arrayValue?[2] == .string("xé\n"))
        #expect(JSONWriter.write(value, pretty: false) == #"{"b":1.50,"a":[true,null,"xé\n"]}"#)
    }

    @Test func syntaxErrorsHaveLineAndColumn() {
        #expect(throws: JSONSyntaxError(line: 2, column: 9, message: "expected ',' or '}' in an object")) {
            _ = try JSONParser.parse("{\"a\": 1,\n \"b\": 2 \"c\": 3}")
        }
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse("[1, 2") }
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse("{\"a\": 1, \"a\": 2}") }
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse("01") }
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse(String(repeating: "[", count: 1000)) }
    }

    @Test func surrogatePairs() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
    }
}
