import HavenJSON
import HavenWire

/// A versioned instrument: a FHIR Questionnaire and the rules that score it.
struct Instrument: Sendable {
    var id: String
    var version: String
    var questionnaire: Questionnaire
    var rules: ScoringRules
    var builtin: Bool

    var title: String { questionnaire.title.isEmpty ? (questionnaire.name.isEmpty ? id : questionnaire.name) : questionnaire.title }

    /// Turns submitted answers into scoring values, refusing anything that is
    /// not one of the item's answers.
    func normalize(_ answers: [(linkId: String, value: String)]) throws -> [String: AnswerValue] {
        var result: [String: AnswerValue] = [:]
        for (linkId, raw) in answers {
            guard let item = questionnaire.item(linkId), item.isAnswerable else {
                throw RPCError.invalidArgument("\(id): there is no answer item \"\(linkId)\" (items: \(rules.itemOrder.joined(separator: ", ")))")
            }
            result[linkId] = try value(raw, for: item)
        }
        return result
    }

    /// Answers in the order of the published form; "" for unanswered.
    func normalize(positional values: [String]) throws -> [String: AnswerValue] {
        guard values.count <= rules.itemOrder.count else {
            throw RPCError.invalidArgument("\(id) takes at most \(rules.itemOrder.count) answers, in the order of the published form; got \(values.count)")
        }
        return try normalize(zip(rules.itemOrder, values).map { ($0, $1) })
    }

    private func value(_ raw: String, for item: QuestionnaireItem) throws -> AnswerValue {
        let text = raw.trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return .missing }
        let lowered = text.lowercased()
        if lowered == "refused" {
            guard rules.refusalItems.contains(item.linkId) else {
                throw RPCError.invalidArgument("\(id) item \(label(item)): \"refused\" is not an answer to this item")
            }
            return .refused
        }
        if let option = item.option(code: text) ?? item.options.first(where: { $0.code.lowercased() == lowered }) {
            return .option(code: option.code, score: option.score)
        }
        // yes/no for boolean items.
        if item.type == "boolean", let b = ["yes": "true", "no": "false", "true": "true", "false": "false"][lowered] {
            return .option(code: b, score: nil)
        }
        // A number names the option with that score; for an item whose
        // options carry no scores (PHQ-9's difficulty question), its position from 0.
        if let number = Double(text) {
            let matches = item.options.filter { $0.score == number }
            if matches.count == 1 { return .option(code: matches[0].code, score: number) }
            if !item.isScored, let index = Int(exactly: number), item.options.indices.contains(index) {
                return .option(code: item.options[index].code, score: nil)
            }
        }
        let choices = item.options.enumerated().map { n, o in
            o.score.map { s in "\(formatScore(s)) (\(o.code))" } ?? (item.type == "boolean" ? (o.code == "true" ? "yes" : "no") : "\(n) (\(o.code))")
        }
        throw RPCError.invalidArgument(
            "\(id) item \(label(item)): \"\(text)\" is not an answer; give one of \(choices.joined(separator: ", "))"
            + (rules.refusalItems.contains(item.linkId) ? ", refused" : "") + ", or leave it blank")
    }

    func label(_ item: QuestionnaireItem) -> String {
        if let position = rules.itemOrder.firstIndex(of: item.linkId) {
            return String(position + 1) == item.linkId ? item.linkId : "\(position + 1) (\(item.linkId))"
        }
        return item.linkId
    }

    func score(_ answers: [String: AnswerValue]) -> Score {
        Scorer(rules: rules, answers: answers).score()
    }

    /// Whether the item should be asked, given the answers so far (FHIR enableWhen).
    func isEnabled(_ item: QuestionnaireItem, answers: [String: AnswerValue]) -> Bool {
        guard !item.enableWhen.isEmpty else { return true }
        let results = item.enableWhen.map { condition -> Bool in
            let answer = answers[condition.question] ?? .missing
            switch condition.op {
            case "exists": return (condition.answer == "true") == (answer != .missing)
            case "=": return answer.code == condition.answer
            case "!=": return answer.code != condition.answer
            default:
                guard let score = answer.score, let n = Double(condition.answer) else { return false }
                switch condition.op {
                case ">": return score > n
                case "<": return score < n
                case ">=": return score >= n
                default: return score <= n
                }
            }
        }
        return item.enableBehavior == "any" ? results.contains(true) : !results.contains(false)
    }
}

func formatScore(_ value: Double) -> String {
    value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
}

/// Reads an instrument document: a bare FHIR Questionnaire (scored by the
/// default rule), or `{"id": ..., "questionnaire": {...}, "scoring": {...}}`.
enum InstrumentDocument {
    static func parse(_ bytes: [UInt8], id requestedID: String? = nil, builtin: Bool = false) -> Result<Instrument, ImportFailure> {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            return .failure(ImportFailure([JSONProblem(path: "$", message: "not valid JSON: \(error)")]))
        }
        let problems = JSONProblems()
        let cursor = JSONCursor(root, problems: problems)
        let questionnaireCursor: JSONCursor
        var rulesCursor: JSONCursor?
        var documentID: String?
        if cursor["resourceType"].exists {
            questionnaireCursor = cursor
        } else {
            cursor.rejectUnknownKeys(["id", "questionnaire", "scoring"])
            questionnaireCursor = cursor["questionnaire"]
            if !questionnaireCursor.exists { cursor.problem("expected a FHIR Questionnaire, or an object with \"questionnaire\" and \"scoring\"") }
            rulesCursor = cursor["scoring"].exists ? cursor["scoring"] : nil
            documentID = cursor["id"].string()
        }
        guard let questionnaire = QuestionnaireParser.parse(questionnaireCursor), problems.isEmpty else {
            return .failure(ImportFailure(problems.all))
        }
        let rules = rulesCursor.map { ScoringRulesParser.parse($0, questionnaire: questionnaire) } ?? ScoringRules.defaultRules(for: questionnaire)
        let id = requestedID ?? documentID ?? slug(questionnaire)
        if !isValidID(id) {
            problems.add("$.id", "instrument ids are lower-case letters, digits and hyphens (got \"\(id)\")")
        }
        guard let rules, problems.isEmpty else { return .failure(ImportFailure(problems.all)) }
        var instrument = Instrument(id: id, version: questionnaire.version.isEmpty ? "1" : questionnaire.version,
                                    questionnaire: questionnaire, rules: rules, builtin: builtin)
        // A dry run with no answers and with every answer catches rules that
        // reference each other in a circle.
        _ = instrument.score([:])
        instrument.builtin = builtin
        return .success(instrument)
    }

    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64 && id.allSatisfy { $0.isLowercase && $0.isASCII || $0.isNumber || $0 == "-" }
    }

    /// An id from the Questionnaire's name, id or url.
    static func slug(_ q: Questionnaire) -> String {
        let source = !q.name.isEmpty ? q.name : (q.json["id"]?.stringValue ?? q.url.split(separator: "/").last.map(String.init) ?? "instrument")
        var out = ""
        for c in source.lowercased() {
            if (c.isLetter && c.isASCII) || c.isNumber { out.append(c) } else if !out.hasSuffix("-") { out.append("-") }
        }
        return out.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
    }
}

struct ImportFailure: Error {
    var problems: [JSONProblem]
    init(_ problems: [JSONProblem]) { self.problems = problems }
}

import Foundation
