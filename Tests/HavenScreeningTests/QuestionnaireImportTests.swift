import Foundation
@testable import HavenScreening
import HavenJSON
import Testing

/// Importing FHIR Questionnaires from public sources, and refusing malformed ones.
@Suite struct QuestionnaireImportTests {
    /// The two HL7 PHQ-9 examples beside the checkout (../shared/fixtures/fhir).
    static let fixtures: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.deletingLastPathComponent().appendingPathComponent("shared/fixtures/fhir").path
    }()
    static let haveFixtures = FileManager.default.fileExists(atPath: fixtures + "/us-core-phq-9.json")

    func load(_ name: String) throws -> Instrument {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/" + name)))
        switch InstrumentDocument.parse(bytes) {
        case .success(let instrument): return instrument
        case .failure(let failure): throw Failure(problems: failure.problems.map(\.description))
        }
    }

    struct Failure: Error { var problems: [String] }

    func problems(_ json: String) -> [JSONProblem] {
        if case .failure(let failure) = InstrumentDocument.parse(Array(json.utf8)) { return failure.problems }
        return []
    }

    @Test(.enabled(if: haveFixtures, "the HL7 fixtures are in ../shared/fixtures/fhir"))
    func usCorePHQ9ImportsAndScoresFromAnswerCodes() throws {
        let phq = try load("us-core-phq-9.json")
        #expect(phq.rules.isDefault)
        #expect(phq.questionnaire.code == "44249-1")
        // Nine scored items (ordinalValue on answerOption); the total and the
        // difficulty question are not summed.
        #expect(phq.rules.total?.items.count == 9)
        let items = phq.rules.total!.items
        let answers = try phq.normalize(items.enumerated().map { ($1, ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"][$0 % 4]) })
        let score = phq.score(answers)
        #expect(score.total == Double(0 + 1 + 2 + 3 + 0 + 1 + 2 + 3 + 0))
        #expect(score.band == "")
        #expect(score.flags.isEmpty)
        // Required items missing: incomplete, no total. (This example marks
        // items 1-8 required and item 9 not, so seven required items are missing.)
        let partial = phq.score(try phq.normalize([(items[0], "LA6571-9")]))
        #expect(partial.total == nil)
        #expect(partial.flag("incomplete")?.count == 7)
    }

    @Test(.enabled(if: haveFixtures, "the HL7 fixtures are in ../shared/fixtures/fhir"))
    func sdcPHQ9WithAContainedValueSetAndGroupsImports() throws {
        let phq = try load("sdc-phq-9.json")
        #expect(phq.rules.total?.items == (1...9).map { "H1/T1/Q\($0)" })
        let answers = try phq.normalize((1...9).map { ("H1/T1/Q\($0)", $0 == 9 ? "Nearly every day" : "Several-days") })
        #expect(phq.score(answers).total == Double(8 + 3))
        // Numbers name the option with that ordinal value.
        #expect(phq.score(try phq.normalize((1...9).map { ("H1/T1/Q\($0)", "2") })).total == 18)
    }

    @Test func anLHCFormsShapedQuestionnaireImports() throws {
        // The LHC-Forms R4 export: answerOption with the ordinal on the option and no coding system.
        let json = """
            {"resourceType": "Questionnaire", "status": "draft", "name": "PHQ9 LHC", "title": "PHQ-9 quick depression assessment panel",
             "code": [{"system": "http://loinc.org", "code": "44249-1"}],
             "item": [{"linkId": "/44250-9", "type": "choice", "required": true, "text": "Little interest or pleasure in doing things",
               "answerOption": [
                 {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 0}], "valueCoding": {"code": "LA6568-5", "display": "Not at all"}},
                 {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": 3}], "valueCoding": {"code": "LA6571-9", "display": "Nearly every day"}}]},
              {"linkId": "/44261-6", "type": "decimal", "text": "Total"}]}
            """
        guard case .success(let instrument) = InstrumentDocument.parse(Array(json.utf8)) else { Issue.record("did not import"); return }
        #expect(instrument.id == "phq9-lhc")
        #expect(instrument.score(try instrument.normalize([("/44250-9", "LA6571-9")])).total == 3)
        #expect(instrument.rules.itemOrder == ["/44250-9"])
    }

    @Test func rulesCanBeAttachedToAnImportedQuestionnaire() throws {
        let json = """
            {"questionnaire": {"resourceType": "Questionnaire", "status": "active", "name": "mood",
               "item": [{"linkId": "a", "type": "choice", "answerOption": [
                 {"valueCoding": {"code": "0"}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 0}]},
                 {"valueCoding": {"code": "1"}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 1}]}]}]},
             "scoring": {"total": {"sum": ["a"]}, "bands": [{"name": "low", "max": 0}, {"name": "high", "min": 1}],
                         "flags": [{"name": "positive_screen", "when": {"total": {"gte": 1}}}]}}
            """
        guard case .success(let instrument) = InstrumentDocument.parse(Array(json.utf8)) else { Issue.record("did not import"); return }
        let score = instrument.score(try instrument.normalize([("a", "1")]))
        #expect(score.band == "high")
        #expect(score.flag("positive_screen") == ["a"])
    }

    @Test func everyProblemIsReportedWithItsJSONPath() {
        let found = problems("""
            {"resourceType": "Questionnaire", "status": "active",
             "item": [
               {"type": "choice", "text": "no linkId", "answerOption": [{"valueCoding": {"code": "x"}}]},
               {"linkId": "q1", "type": "choise"},
               {"linkId": "q1", "type": "choice"},
               {"linkId": "q3", "type": "choice", "answerValueSet": "http://example.org/vs"},
               {"linkId": "q4", "type": "choice", "answerOption": [{"valueCoding": {"display": "no code"}}, {"valueCoding": {"code": "a"}}, {"valueCoding": {"code": "a"}}]}
             ]}
            """)
        let paths = found.map(\.path)
        #expect(paths.contains("$.item[0].linkId"))
        #expect(paths.contains("$.item[1].type"))
        #expect(paths.contains("$.item[2].linkId"))
        #expect(paths.contains("$.item[2]"))                         // a choice item without answers
        #expect(paths.contains("$.item[3].answerValueSet"))
        #expect(paths.contains("$.item[4].answerOption[0].valueCoding.code"))
        #expect(found.contains { $0.path == "$.item[4]" && $0.message.contains("appears twice") })
        #expect(found.first { $0.path == "$.item[3].answerValueSet" }?.message.contains("no network") == true)
    }

    @Test func notAQuestionnaireAndNotJSON() {
        #expect(problems(#"{"resourceType": "Patient", "status": "active", "item": []}"#).contains { $0.path == "$.resourceType" })
        #expect(problems("{\"resourceType\": ").first?.path == "$")
        #expect(problems(#"{"questionnaire": {"resourceType": "Questionnaire", "status": "active"}, "scoring": {}, "extra": 1}"#).contains { $0.path == "$.extra" })
    }

    @Test func rulesThatNameMissingItemsOrFlagsAreRefused() {
        let found = problems("""
            {"questionnaire": {"resourceType": "Questionnaire", "status": "active", "name": "x",
               "item": [{"linkId": "a", "type": "choice", "answerOption": [{"valueCoding": {"code": "0"}}]}]},
             "scoring": {"total": {"sum": ["a", "b"]},
                         "bands": [{"name": "hi", "when": {"flag": "nope"}}],
                         "flags": [{"name": "f", "when": {"item": "zz", "gte": 1}}, {"name": "g", "when": {"total": {"gte": 1, "lte": 2}}}],
                         "guidance": {"unknown": "x"}, "colour": "red"}}
            """)
        let paths = found.map(\.path)
        #expect(paths.contains("$.scoring.total.sum"))                    // b missing; a unscored
        #expect(paths.contains("$.scoring.bands[0].when.flag"))
        #expect(paths.contains("$.scoring.flags[0].when.item"))
        #expect(paths.contains("$.scoring.flags[1].when.total"))          // two comparisons
        #expect(paths.contains("$.scoring.guidance.unknown"))
        #expect(paths.contains("$.scoring.colour"))
    }
}
