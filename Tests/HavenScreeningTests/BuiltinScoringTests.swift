import Foundation
@testable import HavenScreening
import HavenWire
import Testing

/// The built-in instruments, scored against their published rules. Sources
/// for every rule are in Docs/instruments.md and cited per test.
enum Builtins {
    static let all: [String: Instrument] = {
        var result: [String: Instrument] = [:]
        for (name, bytes) in try! InstrumentCatalog.builtinDocuments() {
            guard case .success(let instrument) = InstrumentDocument.parse(bytes, builtin: true) else { fatalError("\(name) does not parse") }
            result[instrument.id] = instrument
        }
        return result
    }()

    static func score(_ id: String, _ answers: String) throws -> Score {
        let instrument = all[id]!
        let values = answers.isEmpty ? [] : answers.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return instrument.score(try instrument.normalize(positional: values))
    }

    /// Nine rating answers (0–3) that sum to `total`, with item 9 set separately.
    static func ratings(total: Int, count: Int = 8, last: Int = 0) -> [String] {
        var remaining = total - last
        var values: [String] = []
        for _ in 0..<count {
            let v = min(3, remaining)
            values.append(String(v))
            remaining -= v
        }
        precondition(remaining == 0)
        return values + [String(last)]
    }
}

@Suite struct PHQ9Tests {
    // Kroenke, Spitzer & Williams (2001), J Gen Intern Med 16:606-613; Pfizer
    // PHQ-9 instructions: total 0-27, severity 0-4 / 5-9 / 10-14 / 15-19 / 20-27;
    // positive (major depression likely) at >= 10; item 9 needs follow-up at any score.
    @Test(arguments: [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
                      (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"), (27, "severe")])
    func bandBoundaries(total: Int, band: String) throws {
        let last = total == 27 ? 3 : 0
        let score = try Builtins.score("phq-9", Builtins.ratings(total: total, last: last).joined(separator: ","))
        #expect(score.total == Double(total))
        #expect(score.band == band)
        #expect((score.flag("positive_screen") != nil) == (total >= 10))
    }

    @Test func itemNineRaisesSuicideRiskWhateverTheTotal() throws {
        let score = try Builtins.score("phq-9", "0,0,0,0,0,0,0,0,1")
        #expect(score.total == 1)
        #expect(score.band == "minimal")
        #expect(score.flag("suicide_risk") == ["9"])
        #expect(score.flag("positive_screen") == nil)
    }

    @Test func itemNineRaisesSuicideRiskEvenWhenOtherItemsAreMissing() throws {
        let score = try Builtins.score("phq-9", "2,,,,,,,,3")
        #expect(score.total == nil)
        #expect(score.band == "incomplete")
        #expect(score.flag("suicide_risk") == ["9"])
        #expect(score.flag("incomplete") == ["2", "3", "4", "5", "6", "7", "8"])
    }

    @Test func aMissingItemWithholdsTheTotal() throws {
        let score = try Builtins.score("phq-9", "3,3,3,3,,3,3,3,0")
        #expect(score.total == nil)
        #expect(score.band == "incomplete")
        #expect(score.missing == ["5"])
    }

    @Test func theDifficultyQuestionIsOptionalAndUnscored() throws {
        let without = try Builtins.score("phq-9", "1,1,1,1,1,1,1,1,1")
        let with = try Builtins.score("phq-9", "1,1,1,1,1,1,1,1,1,3")
        #expect(without.total == 9 && with.total == 9)
        #expect(without.flag("incomplete") == nil)
    }

    @Test func answersOutsideTheScaleAreRefused() {
        #expect(throws: RPCError.self) { _ = try Builtins.score("phq-9", "4,0,0,0,0,0,0,0,0") }
        #expect(throws: RPCError.self) { _ = try Builtins.score("phq-9", "refused,0,0,0,0,0,0,0,0") }
        #expect(throws: RPCError.self) { _ = try Builtins.score("phq-9", "0,0,0,0,0,0,0,0,0,0,0") }
    }

    @Test func answersMayBeGivenAsLOINCAnswerCodes() throws {
        let phq = Builtins.all["phq-9"]!
        let score = phq.score(try phq.normalize([("1", "LA6571-9"), ("2", "LA6570-1"), ("3", "0"), ("4", "0"), ("5", "0"), ("6", "0"), ("7", "0"), ("8", "0"), ("9", "LA6568-5")]))
        #expect(score.total == 5)
    }
}

@Suite struct PHQATests {
    // Johnson et al. (2002) J Adolesc Health 30:196-204; Richardson et al. (2010)
    // Pediatrics 126:1117 (cut point 11 optimal in adolescents); GLAD-PC:
    // item 9 and the two suicide questions must always be followed up.
    @Test(arguments: [(10, false), (11, true)])
    func positiveAtEleven(total: Int, positive: Bool) throws {
        let score = try Builtins.score("phq-a", Builtins.ratings(total: total).joined(separator: ","))
        #expect(score.total == Double(total))
        #expect((score.flag("positive_screen") != nil) == positive)
        #expect(score.band == (total >= 10 ? "moderate" : "mild"))
    }

    @Test func thePastMonthAndLifetimeQuestionsRaiseSuicideRisk() throws {
        // Order: nine items, then past-year (10), difficulty (11), past-month serious thoughts (12), lifetime attempt (13).
        let past = try Builtins.score("phq-a", "0,0,0,0,0,0,0,0,0,no,0,yes,no")
        #expect(past.flag("suicide_risk") == ["12"])
        #expect(past.total == 0)
        let ever = try Builtins.score("phq-a", "0,0,0,0,0,0,0,0,0,no,0,no,yes")
        #expect(ever.flag("suicide_risk") == ["13"])
        let item9 = try Builtins.score("phq-a", "0,0,0,0,0,0,0,0,2")
        #expect(item9.flag("suicide_risk") == ["9"])
        let none = try Builtins.score("phq-a", "1,1,1,1,1,1,1,1,0,yes,1,no,no")
        #expect(none.flag("suicide_risk") == nil)
    }

    @Test func theAdditionalQuestionsAreNotNeededForTheTotal() throws {
        let score = try Builtins.score("phq-a", "2,2,2,2,2,1,0,0,0")
        #expect(score.total == 11)
        #expect(score.flag("incomplete") == nil)
    }

    @Test func itsWordingIsNotShipped() {
        let phqa = Builtins.all["phq-a"]!
        #expect(!phqa.rules.wordingShipped)
        #expect(phqa.message(withItems: true).items.allSatisfy { $0.text.isEmpty })
    }
}

@Suite struct ShortFormTests {
    // PHQ-2: Kroenke, Spitzer & Williams (2003) Med Care 41:1284; GAD-2: Kroenke et al.
    // (2007) Ann Intern Med 146:317. Positive at a total of 3 or more.
    @Test(arguments: ["phq-2", "gad-2"])
    func positiveAtThree(id: String) throws {
        #expect(try Builtins.score(id, "1,1").band == "negative")
        #expect(try Builtins.score(id, "2,0").band == "negative")
        #expect(try Builtins.score(id, "2,1").band == "positive")
        #expect(try Builtins.score(id, "2,1").flag("positive_screen") == ["1", "2"])
        #expect(try Builtins.score(id, "3,3").total == 6)
        #expect(try Builtins.score(id, "3,").band == "incomplete")
    }
}

@Suite struct GAD7Tests {
    // Spitzer, Kroenke, Williams & Löwe (2006) Arch Intern Med 166:1092:
    // 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe; cut-off 10.
    @Test(arguments: [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"), (15, "severe"), (21, "severe")])
    func bandBoundaries(total: Int, band: String) throws {
        var values: [String] = []
        var remaining = total
        for _ in 0..<7 {
            let v = min(3, remaining)
            values.append(String(v))
            remaining -= v
        }
        let score = try Builtins.score("gad-7", values.joined(separator: ","))
        #expect(score.total == Double(total))
        #expect(score.band == band)
        #expect((score.flag("positive_screen") != nil) == (total >= 10))
    }

    @Test func missingItemIsIncomplete() throws {
        let score = try Builtins.score("gad-7", "3,3,3,3,3,3,")
        #expect(score.total == nil)
        #expect(score.flag("incomplete") == ["7"])
    }
}

@Suite struct ASQTests {
    // NIMH ASQ toolkit: "If patient answers Yes to any of questions 1 through 4,
    // or refuses to answer, they are considered a positive screen. Ask question #5
    // to assess acuity: Yes to question #5 = acute positive screen (imminent risk
    // identified); No to question #5 = non-acute positive screen (potential risk
    // identified)." No to all of 1-4: negative, question 5 not asked.
    @Test func allNoIsNegative() throws {
        let score = try Builtins.score("asq", "no,no,no,no")
        #expect(score.band == "negative")
        #expect(score.flags.isEmpty)
    }

    @Test func yesToOneToFourAndNoToFiveIsNonAcute() throws {
        let score = try Builtins.score("asq", "no,yes,no,no,no")
        #expect(score.band == "non_acute_positive")
        #expect(score.flag("suicide_risk") == ["2"])
        #expect(score.flag("positive_screen") == ["2"])
        #expect(score.flag("acute_suicide_risk") == nil)
    }

    @Test func yesToFiveIsAcute() throws {
        let score = try Builtins.score("asq", "yes,no,yes,no,yes")
        #expect(score.band == "acute_positive")
        #expect(score.flag("acute_suicide_risk") == ["5"])
        #expect(score.flag("suicide_risk") == ["1", "3", "5"])
        #expect(score.guidance.contains("must not be left alone"))
    }

    @Test(arguments: ["", "refused"])
    func unansweredOrRefusedFiveAfterAPositiveIsTreatedAsAcute(five: String) throws {
        let score = try Builtins.score("asq", "no,no,no,yes,\(five)")
        #expect(score.band == "acute_positive")
        #expect(score.flag("acute_suicide_risk") != nil)
    }

    @Test func refusingOneToFourIsPositive() throws {
        let score = try Builtins.score("asq", "no,refused,no,no,no")
        #expect(score.band == "non_acute_positive")
        #expect(score.flag("suicide_risk") == ["2"])
    }

    @Test func unansweredQuestionsWithNoPositiveAreIncompleteNotNegative() throws {
        let score = try Builtins.score("asq", "no,,no,no")
        #expect(score.band == "incomplete")
        #expect(score.flag("incomplete") == ["2"])
        #expect(score.flag("suicide_risk") == nil)
    }

    @Test func aPositiveCountsEvenWhenOthersAreUnanswered() throws {
        let score = try Builtins.score("asq", "yes,,,,no")
        #expect(score.band == "non_acute_positive")
        #expect(score.flag("suicide_risk") == ["1"])
        #expect(score.flag("incomplete") == ["2", "3", "4"])
    }

    @Test func questionFiveIsAskedOnlyAfterAPositive() throws {
        let asq = Builtins.all["asq"]!
        let five = asq.questionnaire.item("5")!
        #expect(!asq.isEnabled(five, answers: try asq.normalize(positional: ["no", "no", "no", "no"])))
        #expect(asq.isEnabled(five, answers: try asq.normalize(positional: ["no", "yes", "no", "no"])))
    }
}

@Suite struct PSC17Tests {
    // Gardner et al. (1999) Ambul Child Health 5:225; PSC-17 scoring instructions
    // (MGH): Never 0, Sometimes 1, Often 2; internalizing (items 2, 6, 9, 11, 15)
    // >= 5, attention (1, 3, 7, 13, 17) >= 7, externalizing (4, 5, 8, 10, 12, 14, 16)
    // >= 7, total >= 15; "Items that are left blank are simply ignored (i.e., score
    // equals 0). If four or more items are left blank, the questionnaire is
    // considered invalid."
    static let internalizing = [2, 6, 9, 11, 15], attention = [1, 3, 7, 13, 17], externalizing = [4, 5, 8, 10, 12, 14, 16]

    func answers(_ values: [Int: Int], blank: Set<Int> = []) -> String {
        (1...17).map { blank.contains($0) ? "" : String(values[$0] ?? 0) }.joined(separator: ",")
    }

    @Test func subscalesFollowThePublishedInterleavedOrder() throws {
        let score = try Builtins.score("psc-17", answers([1: 2, 2: 1, 4: 2]))
        #expect(score.subscales == ["attention": 2, "internalizing": 1, "externalizing": 2])
    }

    @Test func internalizingIsPositiveAtFive() throws {
        let four = try Builtins.score("psc-17", answers([2: 2, 6: 2]))
        #expect(four.flag("internalizing_positive") == nil)
        #expect(four.band == "negative")
        let five = try Builtins.score("psc-17", answers([2: 2, 6: 2, 15: 1]))
        #expect(five.flag("internalizing_positive") == ["2", "6", "15"])
        #expect(five.flag("positive_screen") != nil)
        #expect(five.band == "positive")
    }

    @Test(arguments: [("attention", PSC17Tests.attention, "attention_positive"), ("externalizing", PSC17Tests.externalizing, "externalizing_positive")])
    func attentionAndExternalizingArePositiveAtSeven(name: String, items: [Int], flag: String) throws {
        var six: [Int: Int] = [:]
        for (n, item) in items.enumerated() where n < 3 { six[item] = 2 }
        #expect(try Builtins.score("psc-17", answers(six)).flag(flag) == nil)
        var seven = six
        seven[items[3]] = 1
        let score = try Builtins.score("psc-17", answers(seven))
        #expect(score.subscales[name] == 7)
        #expect(score.flag(flag) != nil)
    }

    @Test func totalOfFifteenIsPositiveWithoutAnySubscale() throws {
        // 4 internalizing + 6 attention + 5 externalizing = 15, each below its cut-off.
        let values: [Int: Int] = [2: 2, 6: 2, 1: 2, 3: 2, 7: 2, 4: 2, 5: 2, 8: 1]
        let score = try Builtins.score("psc-17", answers(values))
        #expect(score.total == 15)
        #expect(score.flag("internalizing_positive") == nil && score.flag("attention_positive") == nil && score.flag("externalizing_positive") == nil)
        #expect(score.band == "positive")
        var fourteen = values
        fourteen[8] = 0
        #expect(try Builtins.score("psc-17", answers(fourteen)).band == "negative")
    }

    @Test func threeBlanksAreIgnoredFourMakeItInvalid() throws {
        let three = try Builtins.score("psc-17", answers([1: 2, 2: 2], blank: [5, 9, 12]))
        #expect(three.total == 4)
        #expect(three.band == "negative")
        #expect(three.flag("incomplete") == nil)
        let four = try Builtins.score("psc-17", answers([2: 2, 6: 2, 15: 2], blank: [5, 9, 12, 17]))
        #expect(four.total == nil)
        #expect(four.band == "invalid")
        #expect(four.subscales.isEmpty)
        #expect(four.flag("internalizing_positive") == nil)
        #expect(four.flag("incomplete") != nil)
    }
}
