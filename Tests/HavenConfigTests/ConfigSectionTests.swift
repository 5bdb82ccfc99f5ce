import HavenConfig
import Testing

@Suite struct ConfigSectionTests {
    @Test func syntaxErrorsNameTheLine() {
        #expect {
            _ = try ConfigDocument(text: "[daemon]\nmode = \"server\"\nlog_level = \n", name: "havend.toml")
        } throws: { error in
            let issue = (error as! ConfigError).issues[0]
            return issue.file == "havend.toml" && issue.line == 3
        }
    }

    /// Found by the config fuzzer: toml++ asserted (a crash in debug builds) on "[\u{1}".
    @Test func controlCharactersAreRefusedWithTheirLineAndColumn() {
        #expect {
            _ = try ConfigDocument(text: "[daemon]\nmode = \"server\"\n[\u{1}", name: "havend.toml")
        } throws: { error in
            let issue = (error as! ConfigError).issues[0]
            return issue.line == 3 && issue.message.contains("column 2") && issue.message.contains("U+0001")
        }
        // Found next: a table header with no key ("[\n"); arrays that open on a line of their own are fine.
        #expect {
            _ = try ConfigDocument(text: "a = 1\n[\nb = 2\n", name: "f")
        } throws: { error in (error as! ConfigError).issues[0].line == 2 }
        #expect(throws: Never.self) {
            _ = try ConfigDocument(text: "x = [\n  [\n    1,\n  ],\n  [ { a = 1 } ],\n]\ns = \"\"\"\n[\n\"\"\"\n[t]\ny = 2\n", name: "f")
        }
        // And a } where an array expects a value, and a header after a byte-order mark.
        for text in ["e=[}", "e=[1,\n # c\n}", "a={b=[}]}", "\u{FEFF}[\u{FFFD}]"] {
            #expect(throws: ConfigError.self, "\(text.debugDescription)") { _ = try ConfigDocument(text: text, name: "f") }
        }
        #expect(throws: Never.self) { _ = try ConfigDocument(text: "\u{FEFF}e = [1, 2]\nf = { a = [3] }\n", name: "f") }
        // Found by the routing-rules fuzzer: a multi-line string may end with extra quotes
        // (""""), after which a header with no key must still be caught, not asserted on.
        #expect {
            _ = try ConfigDocument(text: "m = [\"\"\"a\nb\"\"\"\"]\n[[[x]]]\n", name: "f")
        } throws: { error in (error as! ConfigError).issues[0].line == 3 }
        #expect(throws: Never.self) { _ = try ConfigDocument(text: "m = [\"\"\"a\nb\"\"\"\"\"]\n[t]\ny = 2\n", name: "f") }
        // And a bare value that goes on after a space (toml++ asserted on "0con----*x 0 0--");
        // a date then a time is the one that may, and comments and closers may follow a value.
        #expect {
            _ = try ConfigDocument(text: "a = 1\nb = 0con----*x 0 0--\n", name: "f")
        } throws: { error in (error as! ConfigError).issues[0].line == 2 }
        #expect(throws: Never.self) {
            _ = try ConfigDocument(text: "d = 1979-05-27 07:32:00\nn = 1 # one\nl = [1 , 2 ]\nt = { x = -3 }\nm = [\n  4,\n  5\n]\n", name: "f")
        }
        // Tabs and CRLF line ends are fine.
        #expect(throws: Never.self) { _ = try ConfigDocument(text: "[daemon]\r\n\tlog_level = \"info\"\r\n", name: "f") }
    }

    @Test func wrongTypesNameTheKeyAndLine() throws {
        let doc = try ConfigDocument(text: """
            [daemon]
            mode = "desktop"
            # comment

            log_level = 5
            """, name: "f.toml")
        let root = doc.reader()
        let daemon = root.section("daemon")
        _ = daemon.string("mode")
        #expect(daemon.string("log_level") == nil)
        #expect(root.allIssues == [ConfigIssue(file: "f.toml", line: 5, key: "daemon.log_level", message: "expected a string, found integer")])
    }

    @Test func unknownKeysAreReportedWithTheirLinesAllAtOnce() throws {
        let doc = try ConfigDocument(text: """
            [daemon]
            mode = "desktop"
            moed = "server"

            [plugins]
            enabled = ["a"]
            [plugins.a]
            ruels = "x.toml"

            [extra]
            """, name: "f.toml")
        let root = doc.reader()
        let daemon = root.section("daemon")
        _ = daemon.string("mode")
        daemon.rejectUnknownKeys()
        let plugins = root.section("plugins")
        _ = plugins.stringArray("enabled")
        let a = plugins.section("a")
        _ = a.string("rules")
        a.rejectUnknownKeys()
        plugins.rejectUnknownKeys()
        root.rejectUnknownKeys()
        #expect {
            try root.throwIfIssues()
        } throws: { error in
            let issues = (error as! ConfigError).issues
            return issues.map(\.key) == ["daemon.moed", "plugins.a.ruels", "extra"]
                && issues.map(\.line) == [3, 8, 10]
                && issues.allSatisfy { $0.message.hasPrefix("unknown key") }
        }
    }

    @Test func enumeratedStringsAndRanges() throws {
        let doc = try ConfigDocument(text: "mode = \"laptop\"\nn = 0\nlist = [\"a\", 2]", name: "f")
        let root = doc.reader()
        #expect(root.string("mode", oneOf: ["desktop", "server"]) == nil)
        #expect(root.integer("n", range: 1...10) == nil)
        #expect(root.stringArray("list") == nil)
        let messages = root.allIssues.map(\.message)
        #expect(messages == [
            "expected one of \"desktop\", \"server\", found \"laptop\"",
            "expected an integer from 1 to 10, found 0",
            "expected an array of strings, but item 2 is a integer",
        ])
        #expect(root.allIssues.map(\.line) == [1, 2, 3])
    }

    @Test func arraysOfTablesAreIndexedForLines() throws {
        let doc = try ConfigDocument(text: """
            [[rule]]
            name = "one"

            [[rule]]
            name = "two"
            priority = 1
            """, name: "rules.toml")
        let rules = doc.reader().sections("rule")
        #expect(rules.count == 2)
        #expect(rules[1].string("priority") == nil)
        #expect(rules[1].allIssues.first?.line == 6)
        #expect(rules[1].allIssues.first?.key == "rule.1.priority")
    }

    @Test func keyIndexFollowsDottedAndQuotedKeysAndSkipsMultilineStrings() {
        let index = KeyLineIndex(text: """
            a.b = 1
            "quoted.key" = 2
            text = \"\"\"
            fake = 3
            \"\"\"
            [t]
            inner = 4
            """)
        #expect(index.line(of: ["a", "b"]) == 1)
        #expect(index.line(of: ["quoted.key"]) == 2)
        #expect(index.line(of: ["fake"]) == nil)
        #expect(index.line(of: ["t", "inner"]) == 7)
        #expect(index.line(of: ["t", "missing"]) == 6)
    }
}
