import HavenJSON
import Testing

/// Strings without escapes are decoded in one piece; strings with them, scalar
/// by scalar. Both paths must give the same strings and the same errors.
@Suite struct JSONStringParsingTests {
    private func string(_ json: String) throws -> String? {
        if case .string(let text) = try JSONParser.parse(json) { return text }
        return nil
    }

    @Test func plainAndEscapedSpellingsOfAStringAreEqual() throws {
        #expect(try string(#""Quiet in class all week.""#) == "Quiet in class all week.")
        #expect(try string(#""Quiet in \u0063lass all week.""#) == "Quiet in class all week.")
        #expect(try string(#""""#) == "")
        #expect(try string(#""é 😀 ü""#) == "é 😀 ü")
        #expect(try string(#""\u00e9 \ud83d\ude00 ü""#) == "é 😀 ü")
        #expect(try string(#""a\"b\\c\/d""#) == "a\"b\\c/d")
    }

    @Test func objectsOfPlainStringsRoundTripThroughTheWriter() throws {
        let members: [(key: String, value: JSONValue)] = [("category", .string("withdrawal_mood")), ("grade", .string("9")), ("note", .string("tab\there \"quoted\""))]
        let text = JSONWriter.write(.object(members), pretty: false)
        guard case .object(let parsed) = try JSONParser.parse(text) else { Issue.record("not an object"); return }
        #expect(parsed.map(\.key) == members.map(\.key))
        for (a, b) in zip(parsed, members) { #expect(a.value == b.value) }
    }

    @Test func invalidUTF8IsRepairedTheSameWayOnBothPaths() throws {
        // A lone continuation byte, with and without an escape after it.
        let plain = try JSONParser.parse([0x22, 0x61, 0x80, 0x62, 0x22])
        let escaped = try JSONParser.parse([0x22, 0x61, 0x80, 0x62, 0x5C, 0x6E, 0x22])
        #expect(plain == .string("a\u{FFFD}b"))
        #expect(escaped == .string("a\u{FFFD}b\n"))
    }

    @Test func controlCharactersAndUnterminatedStringsAreRefusedWhereTheyAre() {
        #expect(throws: JSONSyntaxError(line: 1, column: 3, message: "control character in a string; escape it")) {
            try JSONParser.parse("\"a\u{01}b\"")
        }
        #expect(throws: JSONSyntaxError(line: 1, column: 4, message: "unterminated string")) {
            try JSONParser.parse("\"ab")
        }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("{\"a\": \"b}") }
    }
}
