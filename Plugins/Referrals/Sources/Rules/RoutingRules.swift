import Foundation
import HavenPluginAPI

/// How soon someone must act.
enum Priority: String, Sendable, CaseIterable, Comparable {
    case routine, soon, urgent, emergency

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    static func < (a: Priority, b: Priority) -> Bool { a.rank < b.rank }

    /// Urgent and emergency referrals let the escalation chain see the record too.
    var chainSees: Bool { self >= .urgent }
}

/// Who a rule routes to, resolved at the student's school when it fires.
enum Target: Sendable, Equatable, CustomStringConvertible {
    /// Whoever the duty rota says is on duty (e.g. "counselor", "designated_lead").
    case onDuty(String)
    /// Every active staff member with the role at the student's school.
    case role(Role)
    /// A named team from the rules file.
    case team(String)
    /// One staff member.
    case staff(String)
    /// The staff with the student on their caseload.
    case caseload

    var description: String {
        switch self {
        case .onDuty(let duty): "on_duty:\(duty)"
        case .role(let role): "role:\(role.rawValue)"
        case .team(let name): "team:\(name)"
        case .staff(let id): "staff:\(id)"
        case .caseload: "caseload"
        }
    }
}

struct EscalationStep: Sendable, Equatable {
    /// Measured from the referral's creation.
    var after: TimeInterval
    var targets: [Target]
}

/// One declarative routing rule: which events it matches, and the referral it makes.
struct RoutingRule: Sendable, Equatable {
    var name: String
    var description: String
    var events: Set<String>
    var categories: Set<String> = []
    var severities: Set<String> = []
    var instruments: Set<String> = []
    var bands: Set<String> = []
    var flagsAny: Set<String> = []
    var flagsAll: Set<String> = []
    var schools: Set<String> = []
    var grades: Set<String> = []
    var targets: [Target]
    var priority: Priority
    var acknowledgeWithin: TimeInterval
    var escalation: [EscalationStep] = []
    /// When this rule matches, later rules are not tried (like a mail filter's "stop").
    var stop = false

    /// Whether the event matches, with the reason for each criterion when
    /// `explaining` (for `haven routing explain`). Routing itself does not
    /// explain: it runs for every event, and the reasons' sorted, joined
    /// sets were most of its cost.
    func match(_ event: DomainEvent, explaining: Bool = true) -> (matched: Bool, reasons: [String]) {
        var reasons: [String] = []
        func check(_ name: String, _ allowed: Set<String>, _ value: String?) -> Bool {
            guard !allowed.isEmpty else { return true }
            let ok = value.map(allowed.contains) ?? false
            if explaining {
                reasons.append("\(name) \(value.map { "\"\($0)\"" } ?? "(none)") \(ok ? "is" : "is not") one of \(allowed.sorted().joined(separator: ", "))")
            }
            return ok
        }
        guard check("event", events, event.type) else { return (false, reasons) }
        var ok = check("category", categories, event.attributes["category"])
            && check("severity", severities, event.attributes["severity"])
            && check("instrument", instruments, event.attributes["instrument"])
            && check("band", bands, event.attributes["band"])
            && check("school", schools, event.schoolID)
            && check("grade", grades, event.attributes["grade"])
        guard ok, !flagsAny.isEmpty || !flagsAll.isEmpty else { return (ok, reasons) }
        let flags = Set((event.attributes["flags"] ?? "").split(separator: ",").map(String.init))
        if !flagsAny.isEmpty {
            let hit = flags.intersection(flagsAny)
            ok = !hit.isEmpty
            if explaining {
                reasons.append(ok ? "flags include \(hit.sorted().joined(separator: ", "))" : "flags (\(flags.sorted().joined(separator: ", "))) include none of \(flagsAny.sorted().joined(separator: ", "))")
            }
        }
        if ok, !flagsAll.isEmpty {
            ok = flagsAll.isSubset(of: flags)
            if explaining {
                reasons.append(ok ? "flags include all of \(flagsAll.sorted().joined(separator: ", "))" : "flags lack \(flagsAll.subtracting(flags).sorted().joined(separator: ", "))")
            }
        }
        return (ok, reasons)
    }

    /// The rule in words, for `haven routing rules`.
    var summary: String {
        var when: [String] = ["on \(events.sorted().joined(separator: " or "))"]
        for (name, set) in [("category", categories), ("severity", severities), ("instrument", instruments), ("band", bands),
                            ("any flag of", flagsAny), ("all flags of", flagsAll), ("school", schools), ("grade", grades)] where !set.isEmpty {
            when.append("\(name) \(set.sorted().joined(separator: "/"))")
        }
        var text = "\(when.joined(separator: ", ")): \(priority.rawValue) referral to \(targets.map(\.description).joined(separator: " and ")), acknowledged within \(Durations.format(acknowledgeWithin))"
        for step in escalation { text += "; after \(Durations.format(step.after)) add \(step.targets.map(\.description).joined(separator: " and "))" }
        if stop { text += "; no later rule applies" }
        return text
    }
}

struct RoutingRules: Sendable {
    var rules: [RoutingRule]
    var teams: [String: [Target]]
    /// The rules file, or "default rules".
    var source: String
}

enum Durations {
    /// "30s", "10m", "2h", "3d" (also "1h30m").
    static func parse(_ text: String) -> TimeInterval? {
        var total: TimeInterval = 0
        var number = ""
        var sawUnit = false
        for c in text.trimmingCharacters(in: .whitespaces) {
            if c.isNumber { number.append(c); continue }
            guard let n = Double(number) else { return nil }
            switch c {
            case "s": total += n
            case "m": total += n * 60
            case "h": total += n * 3600
            case "d": total += n * 86_400
            default: return nil
            }
            number = ""
            sawUnit = true
        }
        return sawUnit && number.isEmpty && total > 0 ? total : nil
    }

    static func format(_ seconds: TimeInterval) -> String {
        let s = Int(seconds)
        if s % 86_400 == 0 { return "\(s / 86_400)d" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
