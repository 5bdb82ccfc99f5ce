import HavenJSON
import Testing

/// The writer's exact text: what the CLI prints and what the outbox stores.
@Suite struct JSONWriterTests {
    @Test func stringsEscapeOnlyQuotesBackslashesAndControlCharacters() {
        let text = JSONWriter.write(.string("a\"b\\c/d\n\r\t\u{08}\u{0C}\u{01}\u{1F}\u{7F} é 😀"), pretty: false)
        #expect(text == #""a\"b\\c/d\n\r\t\b\f\u0001\u001f"# + "\u{7F} é 😀\"")
        #expect(JSONWriter.write(.string(""), pretty: false) == #""""#)
        #expect(JSONWriter.write(.string("a\u{0}b"), pretty: false) == #""a\u0000b""#)
    }

    @Test func compactTextHasNoSpaces() {
        let value: JSONValue = .object([
            ("b", .number("1.50")), ("a", .array([.bool(true), .bool(false), .null])),
            ("e", .object([])), ("f", .array([])), ("k\"ey", .string("v")),
        ])
        #expect(JSONWriter.write(value, pretty: false) == #"{"b":1.50,"a":[true,false,null],"e":{},"f":[],"k\"ey":"v"}"#)
    }

    @Test func prettyTextIndentsByTwoSpacesPerLevel() {
        let value: JSONValue = .object([("list", .array([.number("1"), .object([("x", .string("y"))])])), ("empty", .array([]))])
        #expect(JSONWriter.write(value) == """
            {
              "list": [
                1,
                {
                  "x": "y"
                }
              ],
              "empty": []
            }
            """)
        #expect(JSONWriter.write(.object([("k\n", .object([]))])) == "{\n  \"k\\n\": {}\n}")
        #expect(JSONWriter.write(.number("3")) == "3")
        #expect(JSONWriter.write(.null) == "null")
    }

    @Test func aStringAppendedToOtherTextKeepsItsEscapes() {
        let text = "key=" + JSONWriter.write(.string("tab\there"), pretty: false)
        #expect(text == #"key="tab\there""#)
    }
}
