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
        let trimmed = trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}
