import Foundation
import HavenProto
@testable import HavenPluginAPI
import SwiftProtobuf
import Testing

/// What protobuf lets through but Haven cannot store faithfully — a NUL in
/// text, a time out of range — is found at any depth and named by its proto
/// field path, without relying on the whole message being writable as JSON.
@Suite struct RequestValuesTests {
    @Test func aNULDeepInAListIsNamedByItsPath() {
        let push = Haven_V1_PushRequest.with {
            $0.rows = [
                .with { $0.table = "concerns"; $0.values = [.with { $0.column = "id"; $0.text = "c-1" }] },
                .with { $0.table = "concerns"; $0.values = [.with { $0.column = "id"; $0.text = "c-2" }, .with { $0.column = "narrative"; $0.text = "cut\u{0}short" }] },
            ]
        }
        #expect(RequestValues.problem(in: push) == "rows[1].values[1].text: text may not contain a NUL character (U+0000)")
    }

    @Test func aTimeOutOfRangeIsNamedAndANULBesideItStillFound() {
        let late = Haven_V1_CreateConcernRequest.with { $0.narrative = "x"; $0.observedAt = .with { $0.seconds = 0; $0.nanos = -1 } }
        #expect(RequestValues.problem(in: late) == "observed_at: not a valid time (seconds 0, nanos -1)")
        let far = Haven_V1_CreateConcernRequest.with { $0.observedAt = .with { $0.seconds = 300_000_000_000 } }
        #expect(RequestValues.problem(in: far)?.hasPrefix("observed_at: not a valid time") == true)
        // JSON cannot write this message at all; a NUL (in a field before the
        // time: problems are reported in field order) is found regardless.
        var both = late
        both.narrative = "Pushed\u{0}in line"
        #expect(RequestValues.problem(in: both) == "narrative: text may not contain a NUL character (U+0000)")
    }

    @Test func mapEntriesAreNamedWithoutTheirKeys() {
        let badKey = Haven_V1_Event.with { $0.attributes = ["cate\u{0}gory": "bullying"] }
        #expect(RequestValues.problem(in: badKey) == "attributes (a key): text may not contain a NUL character (U+0000)")
        let badValue = Haven_V1_Event.with { $0.attributes = ["category": "bull\u{0}ying"] }
        #expect(RequestValues.problem(in: badValue) == "attributes (a value): text may not contain a NUL character (U+0000)")
        // Well-known types with a JSON form of their own (Struct, Value) cannot
        // be named from JSON: their fields are named by number instead.
        let inStruct = Google_Protobuf_Struct(fields: ["note": Google_Protobuf_Value(stringValue: "cut\u{0}short")])
        #expect(RequestValues.problem(in: inStruct) == "field 1 (a value).field 3: text may not contain a NUL character (U+0000)")
    }

    @Test func ordinaryRequestsAndZeroBytesInBytesFieldsPass() {
        let create = Haven_V1_CreateConcernRequest.with {
            $0.studentIds = ["s-1"]; $0.narrative = "Quiet all week."; $0.observedAt = Google_Protobuf_Timestamp(date: Date())
        }
        #expect(RequestValues.problem(in: create) == nil)
        #expect(RequestValues.problem(in: Haven_V1_PushRequest()) == nil)
        #expect(RequestValues.problem(in: Haven_V1_StageFileRequest.with { $0.fileName = "users.csv"; $0.chunk = Data([0x61, 0x00, 0x62]) }) == nil)
        #expect(FieldName.of(5, in: Haven_V1_CreateConcernRequest.self, .message) == "observed_at")
        #expect(FieldName.of(1, in: Haven_V1_CreateConcernRequest.self, .text) == "student_ids")
        #expect(FieldName.of(99, in: Haven_V1_CreateConcernRequest.self, .text) == "field 99")
    }
}
