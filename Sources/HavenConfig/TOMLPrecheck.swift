import Foundation

/// Text the bundled toml++ parser would not report but assert on (a crash
/// in debug builds), found by Scripts/fuzz and refused before it is parsed.
/// Each case has its input in Fuzz/regressions/config.
enum TOMLPrecheck {
    /// The first place toml++ would assert instead of reporting an error.
    static func problem(_ text: String) -> (line: Int, column: Int, message: String)? {
        if let (line, column, scalar) = firstControlCharacter(text) {
            return (line, column, "control character U+\(String(format: "%04X", scalar.value)) (write it escaped inside a string)")
        }
        return malformed(text)
    }

    /// TOML allows no raw control character but tab, LF and CR, anywhere;
    /// toml++ asserts on some ("[\u{1}").
    static func firstControlCharacter(_ text: String) -> (line: Int, column: Int, scalar: Unicode.Scalar)? {
        var line = 1, column = 1
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: line += 1; column = 1; continue
            case 0x09, 0x0D: break
            case 0x00...0x1F, 0x7F: return (line, column, scalar)
            default: break
            }
            column += 1
        }
        return nil
    }

    /// The first table header (`[` at the start of a line, outside any
    /// array, string or comment) whose key starts with a character no key
    /// can start with, e.g. "[\n" or "[ {": toml++ asserts in parse_key.
    /// Also: a `}` where an array expects a value ("e=[}", "e=[1,}").
    static func malformed(_ text: String) -> (line: Int, column: Int, message: String)? {
        let s = Array(text.unicodeScalars)
        var i = 0, line = 1, lineStart = 0, atLineStart = true
        var open: [Unicode.Scalar] = []  // the brackets and braces not yet closed
        var last: Unicode.Scalar = "\n"  // the last significant character
        if s.first == "\u{FEFF}" { i = 1; lineStart = 1 }  // a byte-order mark, which toml++ skips
        func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" }
        while i < s.count {
            let c = s[i]
            switch c {
            case "\n":
                line += 1; lineStart = i + 1; atLineStart = true; i += 1; continue
            case " ", "\t", "\r":
                i += 1; continue
            case "#":
                while i < s.count, s[i] != "\n" { i += 1 }
                continue
            case "\"", "'":
                // Skip a string, counting the lines a multi-line one spans.
                let triple = i + 2 < s.count && s[i + 1] == c && s[i + 2] == c
                i += triple ? 3 : 1
                while i < s.count {
                    if c == "\"", s[i] == "\\" { i += 2; continue }
                    if s[i] == "\n" {
                        guard triple else { break }  // an unterminated string: toml++ reports it
                        line += 1; lineStart = i + 1
                    }
                    if s[i] == c, !triple || (i + 2 < s.count && s[i + 1] == c && s[i + 2] == c) {
                        guard triple else { i += 1; break }
                        // A multi-line string may end with one or two quotes of
                        // its own before the delimiter ("""" or """""), so the
                        // whole run of up to five quotes closes it.
                        var run = 0
                        while i < s.count, s[i] == c, run < 5 { i += 1; run += 1 }
                        break
                    }
                    i += 1
                }
                atLineStart = false
                last = c
                continue
            case "[":
                if atLineStart, open.isEmpty {
                    var j = i + 1
                    while j < s.count, isBlank(s[j]) { j += 1 }
                    if j < s.count, s[j] == "[" {
                        j += 1
                        while j < s.count, isBlank(s[j]) { j += 1 }
                    }
                    if j < s.count, !Self.mayStartKey(s[j]) {
                        return (line, j - lineStart + 1, "a table header needs a key, like [daemon] or [\"quoted key\"]")
                    }
                }
                open.append(c)
            case "0"..."9", "+", "-" where last == "=" || (open.last == "[" && (last == "[" || last == ",")):
                // A bare value (number, date, boolean-like) that goes on after a
                // space: only a date followed by a time may ("1979-05-27 07:32:00").
                // toml++ asserts on some others ("0con----*x 0 0--").
                var j = i
                while j < s.count, !" \t\r\n#,]}".unicodeScalars.contains(s[j]) { j += 1 }
                var k = j
                while k < s.count, isBlank(s[k]) { k += 1 }
                if j < s.count, isBlank(s[j]), k < s.count, !"\r\n#,]}".unicodeScalars.contains(s[k]),
                   !Self.isDateThenTime(Array(s[i..<j]), Array(s[k...].prefix(3))) {
                    return (line, k - lineStart + 1, "a value cannot go on after a space here; quote it if it is text")
                }
                atLineStart = false
                last = s[j - 1]
                i = j
                continue
            case "{":
                open.append(c)
            case "]":
                _ = open.popLast()
            case "}":
                if open.last == "[", last == "[" || last == "," {
                    return (line, i - lineStart + 1, "an array needs a value or ] here, not }")
                }
                _ = open.popLast()
            default:
                break
            }
            atLineStart = false
            last = c
            i += 1
        }
        return nil
    }

    /// "YYYY-MM-DD" then "HH:": the one bare value TOML lets a space split.
    static func isDateThenTime(_ date: [Unicode.Scalar], _ time: [Unicode.Scalar]) -> Bool {
        func digit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }
        guard date.count == 10, time.count == 3 else { return false }
        for (index, c) in date.enumerated() where (index == 4 || index == 7) ? c != "-" : !digit(c) { return false }
        return digit(time[0]) && digit(time[1]) && time[2] == ":"
    }

    static func mayStartKey(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-", "\"", "'", "]": true
        default: false
        }
    }
}
