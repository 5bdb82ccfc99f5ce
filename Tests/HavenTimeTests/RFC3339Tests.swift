import Foundation
import HavenTime
import Testing

@Suite struct RFC3339Tests {
    @Test func parsesWithAndWithoutFractionsAndOffsets() {
        #expect(RFC3339.parse("2026-11-30T14:40:00Z") == Date(timeIntervalSince1970: 1_796_049_600))
        #expect(RFC3339.parse("2026-11-30T14:40:00.250Z") == Date(timeIntervalSince1970: 1_796_049_600.25))
        #expect(RFC3339.parse("2026-11-30T15:40:00+01:00") == Date(timeIntervalSince1970: 1_796_049_600))
        for bad in ["", "2026-11-30", "2026-11-30 14:40", "yesterday", "2026-13-01T00:00:00Z"] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func formatsMillisecondsExactlyAndOnlyWhenThere() {
        #expect(RFC3339.format(ms: 1_796_049_600_000) == "2026-11-30T14:40:00Z")
        // 0.231 s as a Double formats as .230 through a Date's fraction.
        #expect(RFC3339.format(ms: 1_796_049_600_231) == "2026-11-30T14:40:00.231Z")
        #expect(RFC3339.format(ms: -1) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_796_049_600.0004)) == "2026-11-30T14:40:00Z")
    }

    @Test func messagesShowWholeSeconds() {
        #expect(RFC3339.wholeSeconds(ms: 1_796_049_600_999) == "2026-11-30T14:40:00Z")
        #expect(RFC3339.wholeSeconds(ms: -1) == "1969-12-31T23:59:59Z")
        #expect(RFC3339.wholeSeconds(Date(timeIntervalSince1970: 1_796_049_600.5)) == "2026-11-30T14:40:00Z")
    }

    @Test func whatItFormatsItParses() {
        for ms: Int64 in [0, 1, 999, 1_796_049_600_231, -86_400_001] {
            let text = RFC3339.format(ms: ms)
            #expect(RFC3339.parse(text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } == ms, "\(text)")
        }
    }
}
