import ArgumentParser
import Foundation
import HavenProto
import HavenScreeningProto

/// `haven screening ...`: instruments, scoring, administration, consent.
struct ScreeningCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "screening", abstract: "Validated screening questionnaires: score, administer, review.",
        subcommands: [Instruments.self, Show.self, Score.self, Administer.self, History.self, Get.self, Annotate.self, Export.self,
                      Import.self, AttachRules.self, Consent.self])

    static let service = "haven.screening.v1.Screening"

    static func render(_ r: Haven_Screening_V1_ScoreResult) -> String {
        var kv = KeyValues()
        kv.add("instrument", "\(r.instrument.id) version \(r.instrument.version)")
        if r.hasTotal {
            kv.add("total", format(r.total))
        } else if r.flags.contains(where: { $0.name == "incomplete" }) {
            kv.add("total", "none (incomplete)")
        }
        kv.add("band", r.band)
        for (name, value) in r.subscales.sorted(by: { $0.key < $1.key }) { kv.add("  \(name)", format(value)) }
        kv.add("flags", r.flags.isEmpty ? "none" : r.flags.map { "\($0.name)" + ($0.items.isEmpty ? "" : " (items \($0.items.joined(separator: ", ")))") }.joined(separator: "; "))
        if !r.missingItems.isEmpty { kv.add("unanswered", r.missingItems.joined(separator: ", ")) }
        var text = kv.render()
        if !r.guidance.isEmpty { text += "\n\n" + wrap(r.guidance, indent: "") }
        return text
    }

    static func format(_ value: Double) -> String { value.rounded() == value ? String(Int(value)) : String(value) }

    struct Instruments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the instruments.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Screening_V1_ListInstrumentsResponse = try await session.unary(ScreeningCommand.service, "ListInstruments", Haven_Screening_V1_ListInstrumentsRequest())
                try emit(r, global) {
                    var table = Table("ID", "VERSION", "TITLE", "BANDS", "WORDING")
                    for i in r.instruments {
                        table.add(i.ref.id, i.ref.version, i.title, i.bands.joined(separator: ","), i.wordingShipped ? "shipped" : "not shipped")
                    }
                    return table.render()
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an instrument: its items, answers, bands, flags and licence.")
        @OptionGroup var global: GlobalOptions
        @Argument var instrument: String
        @Option var version: String = ""
        func run() async throws {
            try await withSession(global) { session in
                let i: Haven_Screening_V1_Instrument = try await session.unary(ScreeningCommand.service, "GetInstrument", Haven_Screening_V1_GetInstrumentRequest.with { $0.id = instrument; $0.version = version })
                try emit(i, global) {
                    var lines = ["\(i.title) — \(i.ref.id) version \(i.ref.version)", wrap("Licence: \(i.licence)", indent: ""), ""]
                    for item in i.items {
                        if item.type == "display" { lines.append(item.text); continue }
                        let text = item.text.isEmpty ? "(wording not shipped; read item \(item.position) from the form)" : item.text
                        lines.append("\(item.position). \(text)")
                        let options = item.options.map { o in (o.hasScore_p ? "\(format(o.score))=" : "") + o.display }
                        lines.append("     " + options.joined(separator: " · ") + (item.allowsRefusal ? " · refused" : ""))
                        if !item.enableWhen.isEmpty { lines.append("     (\(item.enableWhen))") }
                    }
                    lines += ["", "Bands: \(i.bands.joined(separator: ", "))", "Flags: \(i.flags.joined(separator: ", "))"]
                    return lines.joined(separator: "\n")
                }
            }
        }
    }

    struct Score: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score answers without storing anything.",
            discussion: "Answers in the order of the published form, comma-separated: numbers for rating items, yes/no/refused for yes-no items, empty for unanswered (1,,2).")
        @OptionGroup var global: GlobalOptions
        @Argument var instrument: String
        @Option(help: "e.g. 0,1,2,3,1,0,0,1,0") var answers: String
        @Option var version: String = ""
        func run() async throws {
            try await withSession(global) { session in
                let values = answers.isEmpty ? [] : answers.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
                let r: Haven_Screening_V1_ScoreResult = try await session.unary(ScreeningCommand.service, "Score", Haven_Screening_V1_ScoreRequest.with {
                    $0.instrument = .with { $0.id = instrument; $0.version = version }
                    $0.positionalAnswers = values
                    $0.positional = true
                })
                try emit(r, global) { ScreeningCommand.render(r) }
            }
        }
    }

    struct Administer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run an instrument with a student, one item at a time, and show the result and what to do next.",
            discussion: "Answer with the number or the option's code; 'refused' where allowed; Enter to skip an item. It saves each answer: if interrupted, run it again with --resume.")
        @OptionGroup var global: GlobalOptions
        @Argument var instrument: String
        @Option var student: String?
        @Flag(help: "Part of a scheduled screening programme (needs recorded consent).") var scheduled = false
        @Option(help: "Why this individual screening proceeds (required without consent).") var reason: String = ""
        @Option(help: "The concern that prompted it.") var concern: String = ""
        @Option(help: "Continue an unfinished screening.") var resume: String?

        func validate() throws {
            if resume == nil, student == nil { throw ValidationError("give --student (or --resume ID)") }
        }

        func run() async throws {
            try await withSession(global) { session in
                var administration: Haven_Screening_V1_Administration
                if let resume {
                    administration = try await session.unary(ScreeningCommand.service, "Get", Haven_Screening_V1_GetAdministrationRequest.with { $0.administrationID = resume })
                } else {
                    administration = try await session.unary(ScreeningCommand.service, "Start", Haven_Screening_V1_StartRequest.with {
                        $0.studentID = student!
                        $0.instrumentID = instrument
                        $0.context = scheduled ? "scheduled" : "individual"
                        $0.reason = reason
                        $0.concernID = concern
                    })
                }
                let definition: Haven_Screening_V1_Instrument = try await session.unary(ScreeningCommand.service, "GetInstrument", Haven_Screening_V1_GetInstrumentRequest.with {
                    $0.id = administration.instrument.id
                    $0.version = administration.instrument.version
                })
                print("\(definition.title) — screening \(administration.id)")
                print("Answer with a number or code; 'refused' where allowed; press Enter to skip.\n")
                var asked = Set(administration.answers.map(\.linkID))
                for item in definition.items where item.type == "display" && !item.text.isEmpty { print(item.text + "\n") }
                while !administration.nextItem.isEmpty {
                    guard let item = definition.items.first(where: { $0.linkID == administration.nextItem }), !asked.contains(item.linkID) else { break }
                    asked.insert(item.linkID)
                    let text = item.text.isEmpty ? "Item \(item.position) (read it from the \(definition.title) form)" : item.text
                    print("\(item.position). \(text)")
                    for (n, option) in item.options.enumerated() {
                        print("   \(option.hasScore_p ? ScreeningCommand.format(option.score) : String(n + 1))) \(option.display)")
                    }
                    if item.allowsRefusal { print("   r) refused") }
                    var value: String?
                    while value == nil {
                        print("> ", terminator: "")
                        fflush(nil)
                        let line = (readLine() ?? "").trimmingCharacters(in: .whitespaces)
                        value = Self.interpret(line, item)
                        if value == nil { print("   Not an answer to this item; try again (or press Enter to skip).") }
                    }
                    administration = try await session.unary(ScreeningCommand.service, "Answer", Haven_Screening_V1_AnswerRequest.with {
                        $0.administrationID = administration.id
                        $0.answers = [.with { $0.linkID = item.linkID; $0.value = value! }]
                    })
                    print("")
                }
                administration = try await session.unary(ScreeningCommand.service, "Submit", Haven_Screening_V1_SubmitRequest.with { $0.administrationID = administration.id })
                try emit(administration, global) {
                    "Submitted.\n\n" + ScreeningCommand.render(administration.result)
                }
            }
        }

        /// A typed answer as the option's code: the number shown, the code, r/refused, or blank.
        static func interpret(_ line: String, _ item: Haven_Screening_V1_Item) -> String? {
            let lowered = line.lowercased()
            if line.isEmpty { return "" }
            if item.allowsRefusal, lowered == "r" || lowered == "refused" { return "refused" }
            if let option = item.options.first(where: { $0.code.lowercased() == lowered || $0.display.lowercased() == lowered }) { return option.code }
            if ["y", "yes"].contains(lowered), let yes = item.options.first(where: { ["true", "yes"].contains($0.code.lowercased()) }) { return yes.code }
            if ["n", "no"].contains(lowered), let no = item.options.first(where: { ["false", "no"].contains($0.code.lowercased()) }) { return no.code }
            if let number = Double(line) {
                if let scored = item.options.first(where: { $0.hasScore_p && $0.score == number }) { return scored.code }
                if !item.options.contains(where: \.hasScore_p), let n = Int(line), (1...item.options.count).contains(n) { return item.options[n - 1].code }
            }
            return nil
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A student's screenings.")
        @OptionGroup var global: GlobalOptions
        @Argument var student: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Screening_V1_ListAdministrationsResponse = try await session.unary(ScreeningCommand.service, "List", Haven_Screening_V1_ListAdministrationsRequest.with { $0.studentID = student })
                try emit(r, global) {
                    var table = Table("ID", "INSTRUMENT", "STATUS", "WHEN", "BAND", "TOTAL", "FLAGS")
                    for a in r.administrations {
                        table.add(a.id, "\(a.instrument.id)@\(a.instrument.version)", a.status, Dates.show(a.status == "submitted" ? a.submittedAt : a.startedAt),
                                  a.result.band, a.result.hasTotal ? ScreeningCommand.format(a.result.total) : "", a.result.flags.map(\.name).joined(separator: ","))
                    }
                    return table.render()
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show-result", abstract: "Show one screening with its answers and result.")
        @OptionGroup var global: GlobalOptions
        @Argument var screening: String
        func run() async throws {
            try await withSession(global) { session in
                let a: Haven_Screening_V1_Administration = try await session.unary(ScreeningCommand.service, "Get", Haven_Screening_V1_GetAdministrationRequest.with { $0.administrationID = screening })
                try emit(a, global) {
                    var text = "Screening \(a.id): \(a.instrument.id)@\(a.instrument.version), \(a.status) (\(a.context))\n"
                    text += "Answers: " + a.answers.map { "\($0.linkID)=\($0.value.isEmpty ? "–" : $0.value)" }.joined(separator: " ") + "\n"
                    if a.status == "submitted" { text += "\n" + ScreeningCommand.render(a.result) }
                    for n in a.annotations { text += "\n\n\(Dates.show(n.createdAt)) \(n.authorName): \(n.body)" }
                    return text
                }
            }
        }
    }

    struct Annotate: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var screening: String
        @Argument var text: [String]
        func run() async throws {
            try await withSession(global) { session in
                let a: Haven_Screening_V1_Administration = try await session.unary(ScreeningCommand.service, "Annotate", Haven_Screening_V1_AnnotateRequest.with { $0.administrationID = screening; $0.body = text.joined(separator: " ") })
                try emit(a, global) { "Annotated screening \(a.id)." }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a screening as a FHIR QuestionnaireResponse (JSON).")
        @OptionGroup var global: GlobalOptions
        @Argument var screening: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Screening_V1_ExportResponseResponse = try await session.unary(ScreeningCommand.service, "ExportResponse", Haven_Screening_V1_ExportResponseRequest.with { $0.administrationID = screening })
                print(r.json)
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an instrument: a FHIR Questionnaire (JSON), optionally wrapped with Haven scoring rules.",
            discussion: "A bare Questionnaire is scored by the default rule: the total is the sum of the answers' ordinal values. Every problem is reported with its JSON path.")
        @OptionGroup var global: GlobalOptions
        @Argument var file: String
        @Option(help: "The instrument id (default: from the Questionnaire's name).") var id: String?
        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIFailure("could not read \(file)", exitCode: ExitStatus.usage) }
            try await withSession(global) { session in
                let r: Haven_Screening_V1_ImportInstrumentResponse = try await session.unary(ScreeningCommand.service, "ImportInstrument", Haven_Screening_V1_ImportInstrumentRequest.with { $0.json = data; $0.id = id ?? "" })
                try ScreeningCommand.report(r, file: file, global)
            }
        }
    }

    struct AttachRules: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Attach scoring rules (JSON) to an imported instrument, as a new version.")
        @OptionGroup var global: GlobalOptions
        @Argument var instrument: String
        @Argument var file: String
        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIFailure("could not read \(file)", exitCode: ExitStatus.usage) }
            try await withSession(global) { session in
                let r: Haven_Screening_V1_ImportInstrumentResponse = try await session.unary(ScreeningCommand.service, "AttachRules", Haven_Screening_V1_AttachRulesRequest.with { $0.id = instrument; $0.rulesJson = data })
                try ScreeningCommand.report(r, file: file, global)
            }
        }
    }

    static func report(_ r: Haven_Screening_V1_ImportInstrumentResponse, file: String, _ global: GlobalOptions) throws {
        try emit(r, global) {
            r.imported ? "Imported \(r.ref.id) version \(r.ref.version)."
                : (["\(file) was not imported; nothing changed:"] + r.problems.map { "  \($0.path): \($0.message)" }).joined(separator: "\n")
        }
        if !r.imported { throw ExitCode(ExitStatus.serverError) }
    }

    struct Consent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show or record a student's screening consent (PPRA): granted, refused, not_asked.")
        @OptionGroup var global: GlobalOptions
        @Argument var student: String
        @Option(help: "Record a new state.") var set: String?
        @Option var note: String = ""
        func run() async throws {
            try await withSession(global) { session in
                let c: Haven_Screening_V1_Consent
                if let set {
                    c = try await session.unary(ScreeningCommand.service, "SetConsent", Haven_Screening_V1_SetConsentRequest.with { $0.studentID = student; $0.state = set; $0.note = note })
                } else {
                    c = try await session.unary(ScreeningCommand.service, "GetConsent", Haven_Screening_V1_GetConsentRequest.with { $0.studentID = student })
                }
                try emit(c, global) { "Screening consent: \(c.state)" + (c.note.isEmpty ? "" : " — \(c.note)") + (c.recordedBy.isEmpty ? "" : " (recorded \(Dates.show(c.recordedAt)))") }
            }
        }
    }
}
