import HavenJSON

/// A comparison applied to an answer, a total or a subscale.
enum Comparison: Sendable, Equatable {
    case gt(Double), gte(Double), lt(Double), lte(Double)
    case equals(String)
    case oneOf([String])
    case answered(Bool)
}

/// Haven's declarative conditions, used by bands and flags.
indirect enum Condition: Sendable, Equatable {
    case item(String, Comparison)
    case anyItem([String], Comparison)
    case total(Comparison)
    case subscale(String, Comparison)
    case flag(String)
    case band([String])
    case all([Condition])
    case any([Condition])
    case not(Condition)
}

struct SumRule: Sendable, Equatable {
    var items: [String]
    /// How many items may be unanswered before the sum is withheld.
    var maxMissing: Int
}

struct Subscale: Sendable, Equatable {
    var name: String
    var sum: SumRule
}

struct Band: Sendable, Equatable {
    var name: String
    var min: Double?
    var max: Double?
    var when: Condition?
}

struct FlagRule: Sendable, Equatable {
    var name: String
    var when: Condition
}

/// How an instrument is scored: sums, bands, subscales, flags, completeness,
/// and the guidance for each result. Written as JSON beside the Questionnaire.
struct ScoringRules: Sendable, Equatable {
    /// Answer items in the order of the published form (positional answers).
    var itemOrder: [String]
    var total: SumRule?
    var subscales: [Subscale] = []
    var bands: [Band] = []
    /// The band when the total is withheld (e.g. "incomplete", "invalid").
    var incompleteBand: String = "incomplete"
    var flags: [FlagRule] = []
    /// Items whose absence makes the screening incomplete.
    var requiredItems: [String] = []
    /// Items that accept "refused" as an answer.
    var refusalItems: Set<String> = []
    var guidance: [String: String] = [:]
    /// Withhold the subscales when the total is withheld (PSC: an invalid form has no scores).
    var subscalesNeedTotal = false
    var licence: String = ""
    var wordingShipped: Bool = true
    /// No rules were given: the total is the sum of every scored answer.
    var isDefault = false

    /// The default for a Questionnaire without Haven rules: the total is the
    /// sum of the answers' ordinal values; required scored items must be
    /// answered; no bands, no flags.
    static func defaultRules(for questionnaire: Questionnaire) -> ScoringRules {
        let scored = questionnaire.answerItems.filter(\.isScored)
        let required = scored.filter(\.required).map(\.linkId)
        return ScoringRules(
            itemOrder: questionnaire.answerItems.map(\.linkId),
            total: SumRule(items: scored.map(\.linkId), maxMissing: scored.count - required.count),
            requiredItems: required, licence: questionnaire.copyright, wordingShipped: true, isDefault: true)
    }

    var flagNames: [String] {
        var names: [String] = []
        for rule in flags where !names.contains(rule.name) { names.append(rule.name) }
        if !requiredItems.isEmpty || total != nil, !names.contains("incomplete") { names.append("incomplete") }
        return names
    }

    var bandNames: [String] {
        var names = bands.map(\.name)
        if total != nil, !names.contains(incompleteBand) { names.append(incompleteBand) }
        return names
    }
}

/// Reads scoring rules from JSON, checking every item they name against the
/// Questionnaire.
enum ScoringRulesParser {
    static func parse(_ c: JSONCursor, questionnaire: Questionnaire) -> ScoringRules? {
        guard c.isObject else {
            c.problem("expected scoring rules (an object)")
            return nil
        }
        c.rejectUnknownKeys(["itemOrder", "total", "subscales", "subscalesNeedTotal", "bands", "incompleteBand", "flags", "requiredItems",
                             "refusalItems", "guidance", "licence", "wordingShipped"])
        let answerItems = Set(questionnaire.answerItems.map(\.linkId))
        func checkItems(_ ids: [String], at path: JSONCursor, scored: Bool = false) {
            for id in ids {
                guard let item = questionnaire.item(id), answerItems.contains(id) else {
                    path.problem("\"\(id)\" is not an answer item of the Questionnaire")
                    continue
                }
                if scored, !item.isScored { path.problem("item \"\(id)\" has no scored answers (ordinalValue) to sum") }
            }
        }
        let order = c["itemOrder"].exists ? c["itemOrder"].strings() : questionnaire.answerItems.map(\.linkId)
        checkItems(order, at: c["itemOrder"])
        func sum(_ s: JSONCursor) -> SumRule? {
            guard s.exists else { return nil }
            let items = s["sum"].strings()
            if items.isEmpty { s["sum"].problem("list the items to sum") }
            checkItems(items, at: s["sum"], scored: true)
            let maxMissing = Int(s["maxMissing"].number() ?? 0)
            if maxMissing < 0 { s["maxMissing"].problem("must not be negative") }
            s.rejectUnknownKeys(["sum", "maxMissing", "name"])
            return SumRule(items: items, maxMissing: maxMissing)
        }
        var rules = ScoringRules(itemOrder: order, total: sum(c["total"]))
        for s in c["subscales"].elements() {
            guard let name = s["name"].string(required: true), let rule = sum(s) else { continue }
            rules.subscales.append(Subscale(name: name, sum: rule))
        }
        let subscaleNames = Set(rules.subscales.map(\.name))
        var flagNames = Set(c["flags"].elements().compactMap { $0["name"].string() })
        flagNames.insert("incomplete")
        let bandNames = Set(c["bands"].elements().compactMap { $0["name"].string() })
        let context = ConditionContext(items: answerItems, subscales: subscaleNames, flags: flagNames, bands: bandNames, hasTotal: rules.total != nil)
        for b in c["bands"].elements() {
            b.rejectUnknownKeys(["name", "min", "max", "when"])
            guard let name = b["name"].string(required: true) else { continue }
            let when = b["when"].exists ? condition(b["when"], context) : nil
            let min = b["min"].number(), max = b["max"].number()
            if (min != nil || max != nil), rules.total == nil { b.problem("a band with min/max needs a total") }
            rules.bands.append(Band(name: name, min: min, max: max, when: when))
        }
        if let name = c["incompleteBand"].string() { rules.incompleteBand = name }
        for f in c["flags"].elements() {
            f.rejectUnknownKeys(["name", "when"])
            guard let name = f["name"].string(required: true) else { continue }
            guard f["when"].exists else {
                f.problem("a flag needs a \"when\" condition")
                continue
            }
            if let when = condition(f["when"], context) { rules.flags.append(FlagRule(name: name, when: when)) }
        }
        rules.requiredItems = c["requiredItems"].exists ? c["requiredItems"].strings() : (rules.total?.items ?? [])
        checkItems(rules.requiredItems, at: c["requiredItems"])
        rules.refusalItems = Set(c["refusalItems"].strings())
        checkItems(Array(rules.refusalItems), at: c["refusalItems"])
        for key in c["guidance"].keys {
            if let text = c["guidance"][key].string() { rules.guidance[key] = text }
            if !bandNames.contains(key), key != rules.incompleteBand, !flagNames.contains(key) {
                c["guidance"][key].problem("\"\(key)\" is not a band or flag of these rules")
            }
        }
        rules.subscalesNeedTotal = c["subscalesNeedTotal"].bool() ?? false
        rules.licence = c["licence"].string() ?? questionnaire.copyright
        rules.wordingShipped = c["wordingShipped"].bool() ?? true
        return rules
    }

    struct ConditionContext {
        var items: Set<String>
        var subscales: Set<String>
        var flags: Set<String>
        var bands: Set<String>
        var hasTotal: Bool
    }

    static let comparisonKeys: Set<String> = ["gt", "gte", "lt", "lte", "equals", "in", "answered"]

    static func comparison(_ c: JSONCursor) -> Comparison? {
        let present = c.keys.filter { comparisonKeys.contains($0) }
        guard present.count == 1, let key = present.first else {
            c.problem("give exactly one comparison: \(comparisonKeys.sorted().joined(separator: ", "))")
            return nil
        }
        let v = c[key]
        switch key {
        case "gt": return v.number(required: true).map(Comparison.gt)
        case "gte": return v.number(required: true).map(Comparison.gte)
        case "lt": return v.number(required: true).map(Comparison.lt)
        case "lte": return v.number(required: true).map(Comparison.lte)
        case "equals": return v.string(required: true).map(Comparison.equals)
        case "in": return .oneOf(v.strings())
        default: return v.bool().map(Comparison.answered)
        }
    }

    static func condition(_ c: JSONCursor, _ ctx: ConditionContext) -> Condition? {
        guard c.isObject else {
            c.problem("expected a condition object")
            return nil
        }
        if c["all"].exists { return .all(c["all"].elements().compactMap { condition($0, ctx) }) }
        if c["any"].exists { return .any(c["any"].elements().compactMap { condition($0, ctx) }) }
        if c["not"].exists { return condition(c["not"], ctx).map(Condition.not) }
        if let name = c["flag"].string() {
            if !ctx.flags.contains(name) { c["flag"].problem("no flag named \"\(name)\" is defined") }
            return .flag(name)
        }
        if c["band"].exists {
            let names = c["band"].value?.arrayValue != nil ? c["band"].strings() : (c["band"].string().map { [$0] } ?? [])
            for name in names where !ctx.bands.contains(name) { c["band"].problem("no band named \"\(name)\" is defined") }
            return .band(names)
        }
        if let id = c["item"].string() {
            if !ctx.items.contains(id) { c["item"].problem("\"\(id)\" is not an answer item of the Questionnaire") }
            return comparison(c).map { .item(id, $0) }
        }
        if c["anyItem"].exists {
            let ids = c["anyItem"].strings()
            for id in ids where !ctx.items.contains(id) { c["anyItem"].problem("\"\(id)\" is not an answer item of the Questionnaire") }
            return comparison(c).map { .anyItem(ids, $0) }
        }
        if c["total"].exists {
            if !ctx.hasTotal { c["total"].problem("these rules define no total") }
            return comparison(c["total"]).map(Condition.total)
        }
        if let name = c["subscale"].string() {
            if !ctx.subscales.contains(name) { c["subscale"].problem("no subscale named \"\(name)\" is defined") }
            return comparison(c).map { .subscale(name, $0) }
        }
        c.problem("expected one of all, any, not, item, anyItem, total, subscale, flag, band")
        return nil
    }
}
