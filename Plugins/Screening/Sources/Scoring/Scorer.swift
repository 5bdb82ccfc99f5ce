/// An answer as scoring sees it.
enum AnswerValue: Sendable, Equatable {
    case missing
    case refused
    case option(code: String, score: Double?)

    var code: String {
        switch self {
        case .missing: ""
        case .refused: "refused"
        case .option(let code, _): code
        }
    }

    var score: Double? { if case .option(_, let s) = self { s } else { nil } }
}

/// What scoring found, before it becomes a protobuf result.
struct Score: Sendable, Equatable {
    var total: Double?
    var band: String
    var subscales: [String: Double]
    /// Flag name → the items that raised it, in rule order.
    var flags: [(name: String, items: [String])]
    var missing: [String]
    var guidance: String

    static func == (a: Score, b: Score) -> Bool {
        a.total == b.total && a.band == b.band && a.subscales == b.subscales && a.missing == b.missing
            && a.flags.map(\.name) == b.flags.map(\.name) && a.flags.map(\.items) == b.flags.map(\.items)
    }

    func flag(_ name: String) -> [String]? { flags.first { $0.name == name }?.items }
}

/// Applies scoring rules to answers. Pure: the same answers always give the
/// same result; nothing is read from display text.
struct Scorer {
    let rules: ScoringRules
    let answers: [String: AnswerValue]

    private final class Memo {
        var flags: [String: [String]?] = [:]
        var band: String?
        var evaluating: Set<String> = []
    }
    private let memo = Memo()
    private var total: Double?
    private var subscales: [String: Double] = [:]

    init(rules: ScoringRules, answers: [String: AnswerValue]) {
        self.rules = rules
        self.answers = answers
        if let rule = rules.total { total = Self.sum(rule, answers) }
        if !(rules.subscalesNeedTotal && rules.total != nil && total == nil) {
            for subscale in rules.subscales {
                if let value = Self.sum(subscale.sum, answers) { subscales[subscale.name] = value }
            }
        }
    }

    /// The sum of the items' scores, or nil when more than `maxMissing` are
    /// unanswered (a refusal counts as unanswered in a sum).
    static func sum(_ rule: SumRule, _ answers: [String: AnswerValue]) -> Double? {
        var total = 0.0
        var missing = 0
        for id in rule.items {
            if let score = answers[id]?.score { total += score } else { missing += 1 }
        }
        return missing > rule.maxMissing ? nil : total
    }

    func answer(_ id: String) -> AnswerValue { answers[id] ?? .missing }

    /// Required items with no answer (a refusal is not an answer).
    var missingRequired: [String] {
        rules.requiredItems.filter { if case .option = answer($0) { false } else { true } }
    }

    func score() -> Score {
        var flags: [(String, [String])] = []
        for name in rules.flagNames {
            if let items = flag(name) { flags.append((name, items)) }
        }
        let band = self.band()
        var guidance = rules.guidance[band] ?? ""
        for (name, _) in flags { if let g = rules.guidance[name] { guidance += (guidance.isEmpty ? "" : " ") + g } }
        return Score(total: total, band: band, subscales: subscales, flags: flags, missing: missingRequired, guidance: guidance)
    }

    /// The items that raise flag `name`, or nil when it is not raised.
    func flag(_ name: String) -> [String]? {
        if let cached = memo.flags[name] { return cached }
        guard memo.evaluating.insert("flag:" + name).inserted else { return nil }
        defer { memo.evaluating.remove("flag:" + name) }
        var raised = false
        var items: [String] = []
        if name == "incomplete" {
            let missing = missingRequired
            if !missing.isEmpty || (rules.total != nil && total == nil) {
                raised = true
                items = missing
            }
        }
        for rule in rules.flags where rule.name == name {
            let (matched, by) = evaluate(rule.when)
            if matched {
                raised = true
                for id in by where !items.contains(id) { items.append(id) }
            }
        }
        let result: [String]? = raised ? items : nil
        memo.flags[name] = result
        return result
    }

    func band() -> String {
        if let band = memo.band { return band }
        guard memo.evaluating.insert("band").inserted else { return "" }
        defer { memo.evaluating.remove("band") }
        var result = ""
        for band in rules.bands {
            if band.min != nil || band.max != nil {
                guard let total else { continue }
                if let min = band.min, total < min { continue }
                if let max = band.max, total > max { continue }
            }
            if let when = band.when, !evaluate(when).0 { continue }
            result = band.name
            break
        }
        // A withheld total: the band says so, unless a condition band matched.
        if rules.total != nil, total == nil, rules.bands.first(where: { $0.name == result })?.when == nil {
            result = rules.incompleteBand
        }
        memo.band = result
        return result
    }

    /// Whether the condition holds, and the items that made it hold.
    func evaluate(_ condition: Condition) -> (Bool, [String]) {
        switch condition {
        case .item(let id, let comparison):
            return compare(answer(id), comparison) ? (true, [id]) : (false, [])
        case .anyItem(let ids, let comparison):
            let matched = ids.filter { compare(answer($0), comparison) }
            return (!matched.isEmpty, matched)
        case .total(let comparison):
            guard let total, compare(number: total, comparison) else { return (false, []) }
            return (true, (rules.total?.items ?? []).filter { (answer($0).score ?? 0) > 0 })
        case .subscale(let name, let comparison):
            guard let value = subscales[name], compare(number: value, comparison) else { return (false, []) }
            let items = rules.subscales.first { $0.name == name }?.sum.items ?? []
            return (true, items.filter { (answer($0).score ?? 0) > 0 })
        case .flag(let name):
            guard let items = flag(name) else { return (false, []) }
            return (true, items)
        case .band(let names):
            return (names.contains(band()), [])
        case .all(let conditions):
            var items: [String] = []
            for c in conditions {
                let (ok, by) = evaluate(c)
                if !ok { return (false, []) }
                items += by.filter { !items.contains($0) }
            }
            return (true, items)
        case .any(let conditions):
            var items: [String] = []
            var any = false
            for c in conditions {
                let (ok, by) = evaluate(c)
                if ok {
                    any = true
                    items += by.filter { !items.contains($0) }
                }
            }
            return (any, items)
        case .not(let inner):
            return (!evaluate(inner).0, [])
        }
    }

    private func compare(_ value: AnswerValue, _ comparison: Comparison) -> Bool {
        switch comparison {
        case .answered(let wanted):
            let answered = if case .option = value { true } else { false }
            return answered == wanted
        case .equals(let code): return value.code == code
        case .oneOf(let codes): return codes.contains(value.code)
        default:
            guard let score = value.score else { return false }
            return compare(number: score, comparison)
        }
    }

    private func compare(number: Double, _ comparison: Comparison) -> Bool {
        switch comparison {
        case .gt(let n): number > n
        case .gte(let n): number >= n
        case .lt(let n): number < n
        case .lte(let n): number <= n
        case .equals(let text): Double(text) == number
        case .oneOf(let texts): texts.compactMap(Double.init).contains(number)
        case .answered(let wanted): wanted
        }
    }
}
