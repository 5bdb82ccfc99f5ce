import Foundation
import HavenStorage
import HavenWire
import HavenTime

/// The fixed vocabulary of concerns: severities, statuses and how a status may change.
enum ConcernRules {
    static let severities = ["low", "moderate", "high", "imminent"]
    static let statuses = ["open", "triaged", "monitoring", "closed"]
    static let amendableFields = ["category", "severity", "narrative", "location", "observed_at"]
    static let maxNarrative = 20_000

    /// INVALID_ARGUMENT naming the field, the value and what it may be.
    /// One wording for the API and for rows a desktop syncs.
    static func requireOneOf(_ field: String, _ value: String, _ allowed: [String]) throws {
        guard allowed.contains(value) else {
            throw RPCError.invalidArgument("\(field): \"\(value)\" is not one of \(allowed.joined(separator: ", "))")
        }
    }

    /// Status moves forward (open → triaged → monitoring → closed); steps may
    /// be skipped; closing is its own call because it needs a disposition.
    static func transitionProblem(from: String, to: String) -> String? {
        guard let a = statuses.firstIndex(of: from), let b = statuses.firstIndex(of: to) else {
            return "\"\(to)\" is not a status; statuses are \(statuses.joined(separator: ", "))"
        }
        if from == "closed" { return "the concern is closed; record a new concern if something new has happened" }
        if to == "closed" { return "closing needs a disposition and a reason: use Close (haven concern close)" }
        if b == a { return "the concern is already \(to)" }
        if b < a { return "a concern moves forward (open → triaged → monitoring → closed); it is \(from) and cannot go back to \(to)" }
        return nil
    }

    /// What an amendment changes in a concern as shown: narrative, location
    /// and time are replayed from amendments, oldest first (category and
    /// severity are kept current in concern_current). One rule for a
    /// concern's message and for the timeline.
    enum Amended {
        case narrative(String)
        case location(String)
        case observedAt(Int64)

        init?(field: String, newValue: String) {
            switch field {
            case "narrative": self = .narrative(newValue)
            case "location": self = .location(newValue)
            case "observed_at":
                guard let ms = Int64(newValue) else { return nil }
                self = .observedAt(ms)
            default: return nil
            }
        }
    }

    /// An amended field's stored value as the protocol shows it: the form
    /// Amend takes, so observed_at is an RFC 3339 time (stored as ms, which
    /// replay and sync compare).
    static func shownValue(field: String, stored: String) -> String {
        guard field == "observed_at", let ms = Int64(stored) else { return stored }
        return RFC3339.format(ms: ms)
    }

    static let imminentGuidance = """
        IMMINENT RISK: if the student may be in danger now, stay with them (or make sure an adult does) \
        and call the designated lead or the on-duty counselor now. Do not wait for Haven to route this.
        """

    /// Added on a desktop linked to a school server: it may be offline.
    static let imminentOfflineGuidance = """
        This desktop may not reach the school server until later, so nobody has been alerted yet: \
        call the on-duty lead now.
        """
}
