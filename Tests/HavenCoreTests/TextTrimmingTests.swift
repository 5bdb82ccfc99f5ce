import Foundation
@testable import HavenCore
import Testing

/// `trimmed` skips Foundation when a string starts and ends with a visible
/// ASCII character; it must trim exactly as Foundation does either way.
@Suite struct TextTrimmingTests {
    static let samples = [
        "", " ", "\n\t ", "Quiet in class all week.", "  padded  ", "\tTabbed\n", "a", " a", "a ",
        "\u{00A0}no-break space\u{00A0}", "\u{2003}em space", "line separator\u{2028}", "\u{3000}ideographic\u{3000}",
        "é accented start", "ends accented é", "\u{0085}next line", "😀 emoji", "x\u{200B}", "\r\nCRLF\r\n",
    ]

    @Test(arguments: samples)
    func trimsAsFoundationDoes(_ text: String) {
        #expect(text.trimmed == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text.nonEmpty == { let t = text.trimmingCharacters(in: .whitespacesAndNewlines); return t.isEmpty ? nil : t }())
    }
}
