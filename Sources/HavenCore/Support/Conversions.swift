import Foundation
import HavenProto
import HavenStorage
import SwiftProtobuf

extension Google_Protobuf_Timestamp {
    init(ms: Int64) {
        self.init(date: StoredTime.date(ms))
    }

    var ms: Int64 { StoredTime.ms(date) }
}

/// Shortens ids in messages for people: the last 8 characters of a UUIDv7 are random.
func short(_ id: String) -> String {
    id.count > 12 ? "…" + id.suffix(8) : id
}

extension String {
    /// nil for an empty (or all-blank) string.
    var nonEmpty: String? {
        let trimmed = self.trimmed
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Without leading and trailing whitespace and newlines. A string that
    /// starts and ends with a visible ASCII character is returned as it is
    /// without asking Foundation, whose trimming was a visible share of every
    /// request with text in it.
    var trimmed: String {
        guard let first = utf8.first, let last = utf8.last else { return self }
        if (0x21...0x7E).contains(first), (0x21...0x7E).contains(last) { return self }
        return trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
