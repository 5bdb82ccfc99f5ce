import Foundation
import HavenProto
import SwiftProtobuf
import HavenTime

/// Dates and times as the CLI shows and reads them.
enum Dates {
    /// "2026-11-30 14:40" in local time, for people.
    static func show(_ timestamp: Google_Protobuf_Timestamp) -> String {
        guard timestamp.seconds != 0 || timestamp.nanos != 0 else { return "" }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: timestamp.date)
    }

    /// Reads "2026-11-30" (midnight, local time), "2026-11-30T14:40" or RFC 3339.
    static func parse(_ text: String) -> Date? {
        if let date = RFC3339.parse(text) { return date }
        for format in ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"] {
            let formatter = DateFormatter()
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    static func timestamp(_ text: String, option: String) throws -> Google_Protobuf_Timestamp {
        guard let date = parse(text) else {
            throw CLIFailure("\(option): \"\(text)\" is not a date; use 2026-11-30, 2026-11-30T14:40 or RFC 3339", exitCode: ExitStatus.usage)
        }
        return Google_Protobuf_Timestamp(date: date)
    }
}

/// Output in the chosen format: a table for people, JSON for scripts.
func emit(_ message: some SwiftProtobuf.Message, _ options: GlobalOptions, table: () -> String) throws {
    switch options.output {
    case .json: try JSONOutput.print(message)
    case .table: print(table())
    }
}

func studentLabel(_ s: Haven_V1_Student) -> String {
    let name = "\(s.preferredName.isEmpty ? s.givenName : s.preferredName) \(s.familyName)"
    return "\(name) (grade \(s.grade.isEmpty ? "?" : s.grade), \(s.schoolName))\(s.active ? "" : " [inactive]")"
}

/// Wraps text to a width, indenting continuation lines.
func wrap(_ text: String, width: Int = 76, indent: String = "  ") -> String {
    var lines: [String] = []
    for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
        var line = ""
        for word in paragraph.split(separator: " ") {
            if line.count + word.count + 1 > width, !line.isEmpty {
                lines.append(indent + line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        lines.append(indent + line)
    }
    return lines.joined(separator: "\n")
}
