import HavenJSON

/// Reads a FHIR R4 Questionnaire (and the older SDC/STU3 spellings public
/// sources still use), reporting every problem with its JSON path.
enum QuestionnaireParser {
    static let ordinalExtensions: Set<String> = [
        "http://hl7.org/fhir/StructureDefinition/ordinalValue",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
        "http://hl7.org/fhir/StructureDefinition/questionnaire-ordinalValue",
        "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
    ]
    static let itemTypes: Set<String> = [
        "group", "display", "question", "boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text", "url",
        "choice", "open-choice", "attachment", "reference", "quantity",
    ]

    static func parse(_ root: JSONCursor) -> Questionnaire? {
        guard root.isObject else {
            root.problem("expected a FHIR Questionnaire (a JSON object)")
            return nil
        }
        let resourceType = root["resourceType"].string(required: true)
        if let resourceType, resourceType != "Questionnaire" {
            root["resourceType"].problem("expected \"Questionnaire\", found \"\(resourceType)\"")
        }
        let status = root["status"].string(required: true) ?? ""
        if !status.isEmpty, !["draft", "active", "retired", "unknown"].contains(status) {
            root["status"].problem("expected draft, active, retired or unknown, found \"\(status)\"")
        }
        var contained: [String: [QuestionnaireOption]] = [:]
        for resource in root["contained"].elements() where resource["resourceType"].string() == "ValueSet" {
            guard let id = resource["id"].string(required: true) else { continue }
            contained[id] = valueSetOptions(resource)
        }
        var seen: Set<String> = []
        let items = root["item"].elements(required: true).compactMap { item($0, contained: contained, seen: &seen) }
        if items.isEmpty, root["item"].exists { root["item"].problem("the Questionnaire has no items") }
        let codes = root["code"].elements()
        return Questionnaire(
            url: root["url"].string() ?? "", version: root["version"].string() ?? "", name: root["name"].string() ?? "",
            title: root["title"].string() ?? "", status: status, code: codes.first?["code"].string(),
            copyright: root["copyright"].string() ?? "", items: items, json: root.value ?? .null)
    }

    private static func item(_ c: JSONCursor, contained: [String: [QuestionnaireOption]], seen: inout Set<String>) -> QuestionnaireItem? {
        guard c.isObject else {
            c.problem("expected an item object")
            return nil
        }
        guard let linkId = c["linkId"].string(required: true) else { return nil }
        if !seen.insert(linkId).inserted { c["linkId"].problem("linkId \"\(linkId)\" is used by another item; linkIds must be unique") }
        var type = c["type"].string(required: true) ?? "display"
        if !itemTypes.contains(type) {
            c["type"].problem("\"\(type)\" is not a Questionnaire item type")
            type = "display"
        }
        var options: [QuestionnaireOption] = []
        for key in ["answerOption", "option"] {
            for option in c[key].elements() { if let o = answerOption(option) { options.append(o) } }
        }
        let valueSetReference = c["answerValueSet"].string() ?? c["options"]["reference"].string()
        if let reference = valueSetReference {
            if reference.hasPrefix("#"), let set = contained[String(reference.dropFirst())] {
                options += set
            } else {
                c[c["answerValueSet"].exists ? "answerValueSet" : "options"].problem(
                    "\(reference) is not a ValueSet contained in this Questionnaire; Haven makes no network requests, so answer lists must be contained (\"#id\") or listed as answerOption")
            }
        }
        if type == "boolean" {
            options = [QuestionnaireOption(code: "true", display: "Yes", score: nil), QuestionnaireOption(code: "false", display: "No", score: nil)]
        }
        if ["choice", "open-choice"].contains(type), options.isEmpty, valueSetReference == nil {
            c.problem("a choice item needs answerOption or answerValueSet")
        }
        var codes: Set<String> = []
        for option in options where !codes.insert(option.code).inserted {
            c.problem("answer code \"\(option.code)\" appears twice in this item")
        }
        let enableWhen: [EnableWhen] = c["enableWhen"].elements().compactMap { e in
            guard let question = e["question"].string(required: true), let op = e["operator"].string(required: true) else { return nil }
            guard ["=", "!=", "exists", ">", "<", ">=", "<="].contains(op) else {
                e["operator"].problem("\"\(op)\" is not an enableWhen operator")
                return nil
            }
            let answer: String
            if let coding = e["answerCoding"]["code"].string() { answer = coding }
            else if let b = e["answerBoolean"].bool() { answer = b ? "true" : "false" }
            else if let n = e["answerInteger"].number() ?? e["answerDecimal"].number() { answer = n.rounded() == n ? String(Int(n)) : String(n) }
            else if let s = e["answerString"].string() { answer = s }
            else { answer = "" }
            return EnableWhen(question: question, op: op, answer: answer)
        }
        var children: [QuestionnaireItem] = []
        for child in c["item"].elements() { if let i = item(child, contained: contained, seen: &seen) { children.append(i) } }
        return QuestionnaireItem(
            linkId: linkId, text: c["text"].string() ?? "", type: type, required: c["required"].bool() ?? false,
            code: c["code"].elements().first?["code"].string(), options: options, enableWhen: enableWhen,
            enableBehavior: c["enableBehavior"].string() ?? "all", children: children)
    }

    private static func score(_ extensions: JSONCursor) -> Double? {
        for e in extensions.elements() where ordinalExtensions.contains(e["url"].string() ?? "") {
            if let value = e["valueDecimal"].number() ?? e["valueInteger"].number() { return value }
            e.problem("an ordinal value extension needs valueDecimal or valueInteger")
        }
        return nil
    }

    private static func answerOption(_ c: JSONCursor) -> QuestionnaireOption? {
        let coding = c["valueCoding"]
        // The ordinal may sit on the option (R4, LHC-Forms) or on its coding.
        let ordinal = score(c["extension"]) ?? score(coding["extension"])
        if coding.exists {
            guard let code = coding["code"].string(required: true) else { return nil }
            return QuestionnaireOption(code: code, system: coding["system"].string(), display: coding["display"].string() ?? code, score: ordinal)
        }
        if let text = c["valueString"].string() { return QuestionnaireOption(code: text, display: text, score: ordinal) }
        if let n = c["valueInteger"].number() {
            let text = String(Int(n))
            return QuestionnaireOption(code: text, display: text, score: ordinal ?? n)
        }
        c.problem("an answer option needs valueCoding, valueString or valueInteger")
        return nil
    }

    private static func valueSetOptions(_ set: JSONCursor) -> [QuestionnaireOption] {
        var options: [QuestionnaireOption] = []
        for include in set["compose"]["include"].elements() {
            let system = include["system"].string()
            for concept in include["concept"].elements() {
                guard let code = concept["code"].string(required: true) else { continue }
                options.append(QuestionnaireOption(code: code, system: system, display: concept["display"].string() ?? code, score: score(concept["extension"])))
            }
        }
        for concept in set["expansion"]["contains"].elements() {
            guard let code = concept["code"].string(required: true) else { continue }
            options.append(QuestionnaireOption(code: code, system: concept["system"].string(), display: concept["display"].string() ?? code, score: score(concept["extension"])))
        }
        return options
    }
}
