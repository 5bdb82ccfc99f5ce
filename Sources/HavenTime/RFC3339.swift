import Foundation

/// Times as text, in the one form Haven's protocol, its JSON and its
/// messages use: RFC 3339 in UTC ("2026-11-30T14:40:00Z"). Data keeps its
/// milliseconds when the time has them ("2026-11-30T14:40:00.231Z"), since
/// Haven stores times as whole milliseconds; messages for people show
/// whole seconds (`wholeSeconds`).
public enum RFC3339 {
    /// Reads RFC 3339 with or without fractional seconds, any offset.
    public static func parse(_ text: String) -> Date? {
        // A formatter per call: Foundation on Linux does not promise that
        // one is safe to share between threads.
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }

    /// Reads RFC 3339 as whole milliseconds since 1970 (rounded: what
    /// Haven stores; a `Date` holds 0.231 s as 0.230999...).
    public static func parseMilliseconds(_ text: String) -> Int64? {
        parse(text).map(milliseconds)
    }

    /// `ms` milliseconds since 1970: whole seconds formatted, the
    /// milliseconds appended from the integer (formatting a `Date`'s
    /// fraction can round 0.231 down to 0.230).
    public static func format(ms: Int64) -> String {
        let (seconds, millis) = split(ms: ms)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let whole = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
        return millis == 0 ? whole : String(whole.dropLast()) + String(format: ".%03dZ", Int(millis))
    }

    /// `ms` as whole seconds (rounded down, also before 1970) and the
    /// milliseconds after them (0–999): a protobuf Timestamp's halves.
    public static func split(ms: Int64) -> (seconds: Int64, millis: Int64) {
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        return (seconds, ms - seconds * 1000)
    }

    /// `ms` to the whole second (rounded down), for messages people read,
    /// where milliseconds are noise: "until 2026-11-30T15:40:00Z".
    public static func wholeSeconds(ms: Int64) -> String {
        format(ms: split(ms: ms).seconds * 1000)
    }

    public static func wholeSeconds(_ date: Date) -> String {
        wholeSeconds(ms: milliseconds(date))
    }

    /// `date` to the nearest millisecond.
    public static func format(_ date: Date) -> String {
        format(ms: milliseconds(date))
    }

    /// `date` as whole milliseconds since 1970, rounded (as HavenStorage's
    /// `StoredTime.ms`, which this module cannot see).
    private static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
