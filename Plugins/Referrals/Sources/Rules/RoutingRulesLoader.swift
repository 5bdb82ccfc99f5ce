import Foundation
import HavenConfig
import HavenPluginAPI

/// A problem in a routing-rules file: the rule, the key and the line.
struct RuleProblem: Sendable, Equatable, CustomStringConvertible {
    var rule: String
    var key: String
    var line: Int?
    var message: String
    var description: String {
        "\(line.map { "line \($0): " } ?? "")\(rule.isEmpty ? "" : "rule \"\(rule)\": ")\(key.isEmpty ? "" : "\(key): ")\(message)"
    }
}

struct RuleLoadFailure: Error, CustomStringConvertible {
    var source: String
    var problems: [RuleProblem]
    var description: String { "\(source) has \(problems.count) problem(s):\n" + problems.map { "  \($0)" }.joined(separator: "\n") }
}

/// Reads routing rules from TOML, reporting every problem with its rule,
/// key and line. A file with any problem is refused as a whole.
enum RoutingRulesLoader {
    static func load(file path: String) throws(RuleLoadFailure) -> RoutingRules {
        let document: ConfigDocument
        do {
            document = try ConfigDocument(contentsOf: path)
        } catch {
            throw RuleLoadFailure(source: path, problems: error.issues.map { RuleProblem(rule: "", key: $0.key, line: $0.line, message: $0.message) })
        }
        return try parse(document)
    }

    static func parse(text: String, name: String) throws(RuleLoadFailure) -> RoutingRules {
        let document: ConfigDocument
        do {
            document = try ConfigDocument(text: text, name: name)
        } catch {
            throw RuleLoadFailure(source: name, problems: error.issues.map { RuleProblem(rule: "", key: $0.key, line: $0.line, message: $0.message) })
        }
        return try parse(document)
    }

    static let targetHelp = "targets are on_duty:counselor, on_duty:designated_lead, role:<role>, team:<name>, staff:<id>, caseload"

    static func parse(_ document: ConfigDocument) throws(RuleLoadFailure) -> RoutingRules {
        let root = document.reader()
        var teams: [String: [Target]] = [:]
        let teamSection = root.section("teams")
        for name in teamSection.keys {
            let team = teamSection.section(name)
            let members = targets(team, "members", teams: nil)
            if members.isEmpty { team.report("members", "a team needs at least one member") }
            teams[name] = members
            team.rejectUnknownKeys()
        }
        var rules: [RoutingRule] = []
        var names: Set<String> = []
        let ruleSections = root.sections("rule")
        if ruleSections.isEmpty { root.report("rule", "the file defines no [[rule]]") }
        for section in ruleSections {
            let name = section.string("name") ?? ""
            if name.isEmpty { section.report("name", "every rule needs a name") }
            if !name.isEmpty, !names.insert(name).inserted { section.report("name", "another rule is also called \"\(name)\"") }
            func set(_ key: String) -> Set<String> { Set(section.stringArray(key) ?? []) }
            let events = set("events")
            if events.isEmpty { section.report("events", "list the events the rule matches, e.g. [\"concern.created\"]") }
            for e in events where !e.contains(".") { section.report("events", "\"\(e)\" is not an event type (e.g. concern.created)") }
            let severities = set("severities")
            for s in severities where !["low", "moderate", "high", "imminent"].contains(s) {
                section.report("severities", "\"\(s)\" is not a severity (low, moderate, high, imminent)")
            }
            let priorityText = section.string("priority", oneOf: Priority.allCases.map(\.rawValue))
            if !section.contains("priority") { section.report("priority", "every rule needs a priority: routine, soon, urgent or emergency") }
            let ack = duration(section, "acknowledge_within")
            if !section.contains("acknowledge_within") { section.report("acknowledge_within", "every rule needs an acknowledgement deadline, e.g. \"10m\"") }
            let to = targets(section, "to", teams: teams)
            if to.isEmpty, section.contains("to") == false { section.report("to", "every rule needs recipients (\(targetHelp))") }
            var steps: [EscalationStep] = []
            for step in section.sections("escalate") {
                let after = duration(step, "after")
                if !step.contains("after") { step.report("after", "an escalation step needs \"after\", e.g. \"10m\"") }
                let stepTargets = targets(step, "to", teams: teams)
                if let after { steps.append(EscalationStep(after: after, targets: stepTargets)) }
                step.rejectUnknownKeys()
            }
            if steps.map(\.after) != steps.map(\.after).sorted() { section.report("escalate", "escalation steps must be in order of \"after\"") }
            let rule = RoutingRule(
                name: name, description: section.string("description") ?? "", events: events, categories: set("categories"),
                severities: severities, instruments: set("instruments"), bands: set("bands"), flagsAny: set("flags_any"),
                flagsAll: set("flags_all"), schools: set("schools"), grades: set("grades"), targets: to,
                priority: priorityText.flatMap(Priority.init) ?? .routine, acknowledgeWithin: ack ?? 0, escalation: steps,
                stop: section.bool("stop") ?? false)
            section.rejectUnknownKeys()
            rules.append(rule)
        }
        root.rejectUnknownKeys(hint: "a rules file holds [[rule]] entries and a [teams] table")
        let issues = root.allIssues
        guard issues.isEmpty else {
            // Name the rule each problem is in: keys look like "rule.<index>.<key>".
            let problems = issues.map { issue -> RuleProblem in
                let parts = issue.key.split(separator: ".").map(String.init)
                if parts.first == "rule", parts.count >= 2, let index = Int(parts[1]), index < rules.count {
                    let ruleName = rules[index].name.isEmpty ? "#\(index + 1)" : rules[index].name
                    return RuleProblem(rule: ruleName, key: parts.dropFirst(2).joined(separator: "."), line: issue.line, message: issue.message)
                }
                return RuleProblem(rule: "", key: issue.key, line: issue.line, message: issue.message)
            }
            throw RuleLoadFailure(source: document.name, problems: problems.sorted { ($0.line ?? 0) < ($1.line ?? 0) })
        }
        return RoutingRules(rules: rules, teams: teams, source: document.name)
    }

    private static func duration(_ section: ConfigSection, _ key: String) -> TimeInterval? {
        guard let text = section.string(key) else { return nil }
        guard let value = Durations.parse(text) else {
            section.report(key, "\"\(text)\" is not a duration; use e.g. \"30s\", \"10m\", \"2h\", \"1d\"")
            return nil
        }
        return value
    }

    /// Parses target strings; an SRO is never a routing target.
    private static func targets(_ section: ConfigSection, _ key: String, teams: [String: [Target]]?) -> [Target] {
        var result: [Target] = []
        for text in section.stringArray(key) ?? [] {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            switch (parts.first, parts.count) {
            case ("on_duty", 2):
                guard DutyRota.duties.contains(parts[1]) else {
                    section.report(key, "\"\(parts[1])\" is not a duty; duties are \(DutyRota.duties.joined(separator: ", "))")
                    continue
                }
                result.append(.onDuty(parts[1]))
            case ("role", 2):
                guard let role = Role(rawValue: parts[1]) else {
                    section.report(key, "\"\(parts[1])\" is not a role")
                    continue
                }
                guard role != .sro else {
                    section.report(key, "no rule may route to a school resource officer: involving an SRO is a human decision with a recorded reason (haven referral assign)")
                    continue
                }
                guard role != .analyst, role != .integration else {
                    section.report(key, "\(role.rawValue) accounts do not act on referrals")
                    continue
                }
                result.append(.role(role))
            case ("team", 2):
                if let teams, teams[parts[1]] == nil {
                    section.report(key, "there is no team \"\(parts[1])\" in [teams]")
                    continue
                }
                if teams == nil {
                    section.report(key, "a team cannot contain another team")
                    continue
                }
                result.append(.team(parts[1]))
            case ("staff", 2):
                result.append(.staff(parts[1]))
            case ("caseload", 1):
                result.append(.caseload)
            default:
                section.report(key, "\"\(text)\" is not a target; \(targetHelp)")
            }
        }
        return result
    }
}

/// The rules a school gets when it configures none; explained in Docs/routing.md.
enum DefaultRoutingRules {
    static let name = "default routing rules"

    static let text = """
    # Haven's default routing rules. Rules are tried in order; a rule with
    # stop = true ends the search when it matches. No rule routes to an SRO.

    [teams.threat_assessment]
    # An administrator and a mental-health professional.
    members = ["on_duty:designated_lead", "on_duty:counselor"]

    [[rule]]
    name = "asq-acute"
    description = "ASQ acute positive: the student must not be left alone"
    events = ["screening.completed"]
    flags_any = ["acute_suicide_risk"]
    to = ["on_duty:counselor", "on_duty:designated_lead"]
    priority = "emergency"
    acknowledge_within = "10m"
    stop = true
      [[rule.escalate]]
      after = "10m"
      to = ["role:administrator"]

    [[rule]]
    name = "imminent-concern"
    description = "A concern marked imminent"
    events = ["concern.created", "concern.updated"]
    severities = ["imminent"]
    to = ["on_duty:counselor", "on_duty:designated_lead"]
    priority = "emergency"
    acknowledge_within = "10m"
    stop = true
      [[rule.escalate]]
      after = "10m"
      to = ["role:administrator"]

    [[rule]]
    name = "suicide-risk"
    description = "A screening raised suicide risk"
    events = ["screening.completed"]
    flags_any = ["suicide_risk"]
    to = ["caseload", "role:counselor"]
    priority = "urgent"
    acknowledge_within = "1h"
    stop = true
      [[rule.escalate]]
      after = "1h"
      to = ["on_duty:designated_lead"]
      [[rule.escalate]]
      after = "2h"
      to = ["role:administrator"]

    [[rule]]
    name = "self-harm-concern"
    description = "A concern about self-harm or a suicide statement"
    events = ["concern.created"]
    categories = ["self_harm_suicide"]
    to = ["caseload", "role:counselor"]
    priority = "urgent"
    acknowledge_within = "1h"
    stop = true
      [[rule.escalate]]
      after = "1h"
      to = ["on_duty:designated_lead"]

    [[rule]]
    name = "threat-or-weapon"
    description = "A threat of violence or a weapon: the threat-assessment team"
    events = ["concern.created"]
    categories = ["threat_of_violence", "weapon"]
    to = ["team:threat_assessment"]
    priority = "urgent"
    acknowledge_within = "1h"
    stop = true
      [[rule.escalate]]
      after = "1h"
      to = ["role:administrator"]

    [[rule]]
    name = "routine-positive"
    description = "A positive screen without a risk flag"
    events = ["screening.completed"]
    flags_any = ["positive_screen"]
    to = ["caseload", "role:counselor"]
    priority = "soon"
    acknowledge_within = "1d"
    """
}
