import HavenJSON

/// One answer a choice item offers. Scoring uses `code` and `score`, never
/// `display`: answer lists word the same option differently.
struct QuestionnaireOption: Sendable, Equatable {
    var code: String
    var system: String?
    var display: String
    /// The option's ordinal value (FHIR ordinalValue / itemWeight), if it has one.
    var score: Double?
}

/// A FHIR enableWhen condition: ask this item only when `question` has `answer`.
struct EnableWhen: Sendable, Equatable {
    var question: String
    var op: String
    /// The answer compared, as text: a code, "true"/"false", or a number.
    var answer: String
}

struct QuestionnaireItem: Sendable, Equatable {
    var linkId: String
    var text: String
    var type: String
    var required: Bool
    var code: String?
    var options: [QuestionnaireOption]
    var enableWhen: [EnableWhen]
    var enableBehavior: String
    var children: [QuestionnaireItem]

    /// Items that take an answer (not groups or display text).
    var isAnswerable: Bool { !["group", "display"].contains(type) && (type != "decimal" && type != "quantity" || !options.isEmpty) }
    var isScored: Bool { options.contains { $0.score != nil } }

    func option(code: String) -> QuestionnaireOption? { options.first { $0.code == code } }
}

/// A FHIR R4 Questionnaire, as far as Haven needs it.
struct Questionnaire: Sendable {
    var url: String
    var version: String
    var name: String
    var title: String
    var status: String
    var code: String?
    var copyright: String
    var items: [QuestionnaireItem]
    /// The document as imported, kept verbatim for export.
    var json: JSONValue

    /// Every item in document order, groups flattened.
    var allItems: [QuestionnaireItem] {
        func walk(_ items: [QuestionnaireItem]) -> [QuestionnaireItem] { items.flatMap { [$0] + walk($0.children) } }
        return walk(items)
    }

    var answerItems: [QuestionnaireItem] { allItems.filter(\.isAnswerable) }

    func item(_ linkId: String) -> QuestionnaireItem? { allItems.first { $0.linkId == linkId } }
}
