import Foundation
import HavenJSON
import HavenStorage

/// A stored screening as a FHIR R4 QuestionnaireResponse, with Haven's score
/// in an extension.
enum QuestionnaireResponseExport {
    static let scoreExtension = "https://haven.invalid/fhir/StructureDefinition/screening-score"

    static func json(_ row: ScreeningStore.AdministrationRow, _ instrument: Instrument, _ answers: [(linkId: String, value: String)],
                     _ result: ScreeningStore.ResultRow?) -> String {
        var items: [JSONValue] = []
        for (linkId, value) in answers where !value.isEmpty {
            guard let item = instrument.questionnaire.item(linkId) else { continue }
            let answer: JSONValue
            if value == "refused" {
                answer = .object([("valueCoding", .object([("system", .string("http://terminology.hl7.org/CodeSystem/data-absent-reason")),
                                                           ("code", .string("asked-declined")), ("display", .string("Asked But Declined"))]))])
            } else if item.type == "boolean" {
                answer = .object([("valueBoolean", .bool(value == "true" || value == "yes"))])
            } else if let option = item.option(code: value) ?? item.options.first(where: { $0.score.map(formatScore) == value }) {
                var coding: [(key: String, value: JSONValue)] = []
                if let system = option.system { coding.append(("system", .string(system))) }
                coding.append(("code", .string(option.code)))
                coding.append(("display", .string(option.display)))
                answer = .object([("valueCoding", .object(coding))])
            } else {
                answer = .object([("valueString", .string(value))])
            }
            var entry: [(key: String, value: JSONValue)] = [("linkId", .string(linkId))]
            if instrument.rules.wordingShipped, !item.text.isEmpty { entry.append(("text", .string(item.text))) }
            entry.append(("answer", .array([answer])))
            items.append(.object(entry))
        }
        var canonical = instrument.questionnaire.url
        if !instrument.questionnaire.version.isEmpty { canonical += "|" + instrument.questionnaire.version }
        var members: [(key: String, value: JSONValue)] = [
            ("resourceType", .string("QuestionnaireResponse")),
            ("id", .string(row.id)),
            ("questionnaire", .string(canonical)),
            ("status", .string(result == nil ? "in-progress" : "completed")),
            ("subject", .object([("identifier", .object([("system", .string("https://haven.invalid/student")), ("value", .string(row.studentID))]))])),
            ("authored", .string(ISO8601DateFormatter().string(from: StoredTime.date(result?.submittedAt ?? row.startedAt)))),
            ("author", .object([("identifier", .object([("system", .string("https://haven.invalid/staff")), ("value", .string(row.startedBy))]))])),
        ]
        if let result {
            var score: [(key: String, value: JSONValue)] = [("url", .string(scoreExtension))]
            var parts: [JSONValue] = [
                .object([("url", .string("instrument")), ("valueString", .string("\(instrument.id)@\(instrument.version)"))]),
                .object([("url", .string("band")), ("valueString", .string(result.band))]),
            ]
            if let total = result.total { parts.append(.object([("url", .string("total")), ("valueDecimal", .number(total))])) }
            for flag in result.flags { parts.append(.object([("url", .string("flag")), ("valueString", .string(flag.name))])) }
            score.append(("extension", .array(parts)))
            members.append(("extension", .array([.object(score)])))
        }
        members.append(("item", .array(items)))
        return JSONWriter.write(.object(members))
    }
}
