import ArgumentParser
import Foundation
import HavenProto

/// `haven concern add|list|show|note|amend|triage|monitor|close`.
struct ConcernCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concern", abstract: "Record and follow concerns about students.",
        subcommands: [Add.self, List.self, Show.self, Note.self, Amend.self, Triage.self, Monitor.self, Close.self])

    static func render(_ c: Haven_V1_Concern) -> String {
        var kv = KeyValues()
        kv.add("concern", c.id)
        kv.add("student", "\(c.studentName) [\(c.studentID)]")
        kv.add("category", c.category + (c.category != c.originalCategory ? " (first recorded as \(c.originalCategory))" : ""))
        kv.add("severity", c.severity + (c.severity != c.originalSeverity ? " (first recorded as \(c.originalSeverity))" : ""))
        kv.add("status", c.status + (c.disposition.isEmpty ? "" : " — \(c.disposition)"))
        kv.add("observed", Dates.show(c.observedAt) + (c.location.isEmpty ? "" : " at \(c.location)"))
        kv.add("reported by", "\(c.reporterName), \(Dates.show(c.createdAt))")
        if !c.toldLeadInPerson.isEmpty { kv.add("told a lead", c.toldLeadInPerson) }
        if c.waitingToSync { kv.add("sync", "WAITING: saved on this desktop, not yet on the school server, so not yet routed") }
        var text = kv.render() + "\n\n" + wrap(c.narrative)
        if c.narrative != c.originalNarrative { text += "\n  (narrative amended; first recorded as:)\n" + wrap(c.originalNarrative, indent: "    ") }
        if !c.history.isEmpty {
            text += "\n\nHistory:"
            for h in c.history {
                let what: String = switch h.kind {
                case "note": "note"
                case "amendment": "corrected \(h.field)" + (h.field == "narrative" ? "" : ": \(h.oldValue.isEmpty ? "(none)" : h.oldValue) → \(h.newValue)")
                default: "status → \(h.status)" + (h.disposition.isEmpty ? "" : " (\(h.disposition))")
                }
                text += "\n  \(Dates.show(h.createdAt))  \(h.authorName): \(what)"
                if !h.body.isEmpty { text += "\n" + wrap(h.body, indent: "      ") }
            }
        }
        return text
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a concern. Without flags, asks for each detail in turn.",
            discussion: "Categories: haven concern add asks, or see `haven call haven.v1.Concerns/Taxonomy`. Severity: low, moderate, high, imminent.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The student (id or roster id); repeat for several.") var student: [String] = []
        @Option var category: String?
        @Option var severity: String?
        @Option(help: "What you saw or heard, in your own words.") var narrative: String?
        @Option(help: "When (default: now).") var observedAt: String?
        @Option var location: String?
        @Option(help: "For imminent concerns: have you told a designated lead in person? yes or no.") var toldLead: String?

        func run() async throws {
            try await withSession(global) { session in
                var request = Haven_V1_CreateConcernRequest()
                request.studentIds = student
                request.category = category ?? ""
                request.severity = severity ?? ""
                request.narrative = narrative ?? ""
                request.location = location ?? ""
                request.toldLeadInPerson = toldLead ?? ""
                if let observedAt { request.observedAt = try Dates.timestamp(observedAt, option: "--observed-at") }
                if request.studentIds.isEmpty || request.category.isEmpty || request.severity.isEmpty || request.narrative.isEmpty {
                    guard isatty(STDIN_FILENO) == 1 else {
                        throw CLIFailure("give --student, --category, --severity and --narrative (or run in a terminal to be asked)", exitCode: ExitStatus.usage)
                    }
                    try await Prompt.fill(&request, session: session)
                }
                let r: Haven_V1_CreateConcernResponse = try await session.unary("haven.v1.Concerns", "Create", request)
                try emit(r, global) {
                    var lines: [String] = []
                    if !r.guidance.isEmpty { lines += ["", "!! " + r.guidance, ""] }
                    for c in r.concerns { lines.append("Recorded concern \(c.id) about \(c.studentName).") }
                    lines.append("It has been saved and will be routed to the people who need to act.")
                    return lines.joined(separator: "\n")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List concerns you may see, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option var student: String?
        @Option var school: String?
        @Option var category: String?
        @Option var severity: String?
        @Option var status: String?
        @Option var reporter: String?
        @Option var from: String?
        @Option var to: String?
        @Flag(help: "Only concerns you reported.") var mine = false
        @Option var limit: Int32 = 50
        @Option(help: "Continue from a previous page.") var cursor: String?

        func run() async throws {
            try await withSession(global) { session in
                let request = try Haven_V1_ListConcernsRequest.with {
                    $0.studentID = student ?? ""
                    $0.schoolID = school ?? ""
                    $0.category = category ?? ""
                    $0.severity = severity ?? ""
                    $0.status = status ?? ""
                    $0.reporterID = reporter ?? ""
                    $0.mine = mine
                    if let from { $0.from = try Dates.timestamp(from, option: "--from") }
                    if let to { $0.to = try Dates.timestamp(to, option: "--to") }
                    $0.page = .with { $0.limit = limit; $0.cursor = cursor ?? "" }
                }
                let r: Haven_V1_ListConcernsResponse = try await session.unary("haven.v1.Concerns", "List", request)
                try emit(r, global) {
                    if r.concerns.isEmpty { return "No concerns." }
                    var table = Table("ID", "OBSERVED", "STUDENT", "CATEGORY", "SEVERITY", "STATUS", "REPORTER")
                    for c in r.concerns {
                        table.add(c.id, Dates.show(c.observedAt), c.studentName, c.category, c.severity, c.status, c.reporterName)
                    }
                    return table.render() + (r.nextCursor.isEmpty ? "" : "\n(more: --cursor \(r.nextCursor))")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a concern with its notes, amendments and status changes.")
        @OptionGroup var global: GlobalOptions
        @Argument var concern: String
        func run() async throws {
            try await withSession(global) { session in
                let c: Haven_V1_Concern = try await session.unary("haven.v1.Concerns", "Get", Haven_V1_GetConcernRequest.with { $0.concernID = concern })
                try emit(c, global) { ConcernCommand.render(c) }
            }
        }
    }

    struct Note: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a note to a concern.")
        @OptionGroup var global: GlobalOptions
        @Argument var concern: String
        @Argument var text: [String]
        func run() async throws {
            try await ConcernCommand.change("AddNote", Haven_V1_AddNoteRequest.with { $0.concernID = concern; $0.body = text.joined(separator: " ") }, global)
        }
    }

    struct Amend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Correct a field; the original stays in the history.")
        @OptionGroup var global: GlobalOptions
        @Argument var concern: String
        @Option(help: "category, severity, narrative, location or observed_at.") var field: String
        @Option var value: String
        @Option var reason: String
        func run() async throws {
            try await ConcernCommand.change("Amend", Haven_V1_AmendConcernRequest.with { $0.concernID = concern; $0.field = field; $0.newValue = value; $0.reason = reason }, global)
        }
    }

    struct Triage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a concern triaged.")
        @OptionGroup var global: GlobalOptions
        @Argument var concern: String
        @Option var note: String = ""
        func run() async throws {
            try await ConcernCommand.change("SetStatus", Haven_V1_SetStatusRequest.with { $0.concernID = concern; $0.status = "triaged"; $0.note = note }, global)
        }
    }

    struct Monitor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a concern as being monitored.")
        @OptionGroup var global: GlobalOptions
        @Argument var concern: String
        @Option var note: String = ""
        func run() async throws {
            try await ConcernCommand.change("SetStatus", Haven_V1_SetStatusRequest.with { $0.concernID = concern; $0.status = "monitoring"; $0.note = note }, global)
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a concern with a disposition and a reason.")
        @OptionGroup var global: GlobalOptions
        @Argument var concern: String
        @Option(help: "resolved, referred, referred_external, reported_to_authorities, no_action_needed, duplicate (or as configured).") var disposition: String
        @Option var reason: String
        func run() async throws {
            try await ConcernCommand.change("Close", Haven_V1_CloseConcernRequest.with { $0.concernID = concern; $0.disposition = disposition; $0.reason = reason }, global)
        }
    }

    static func change<R: SwiftProtobufMessage>(_ method: String, _ request: R, _ global: GlobalOptions) async throws {
        try await withSession(global) { session in
            let c: Haven_V1_Concern = try await session.unary("haven.v1.Concerns", method, request)
            try emit(c, global) { render(c) }
        }
    }
}

/// The interactive `haven concern add`: one question at a time.
enum Prompt {
    static func ask(_ question: String) -> String {
        print(question, terminator: " ")
        return (readLine() ?? "").trimmingCharacters(in: .whitespaces)
    }

    static func choose(_ question: String, _ options: [(code: String, label: String)]) -> String {
        print(question)
        for (i, option) in options.enumerated() { print("  \(i + 1). \(option.label)") }
        while true {
            let answer = ask("Number:")
            if let n = Int(answer), (1...options.count).contains(n) { return options[n - 1].code }
            if let match = options.first(where: { $0.code == answer }) { return match.code }
            print("Please give a number from 1 to \(options.count).")
        }
    }

    static func fill(_ request: inout Haven_V1_CreateConcernRequest, session: Session) async throws {
        if request.studentIds.isEmpty {
            while request.studentIds.isEmpty {
                let name = ask("Student's name:")
                guard !name.isEmpty else { continue }
                let found: Haven_V1_FindStudentsResponse = try await session.unary("haven.v1.Students", "Find", Haven_V1_FindStudentsRequest.with { $0.text = name; $0.limit = 9 })
                if found.students.isEmpty { print("No student matches \"\(name)\"."); continue }
                let choice = choose("Which student?", found.students.map { ($0.id, studentLabel($0)) })
                request.studentIds = [choice]
            }
        }
        let taxonomy: Haven_V1_TaxonomyResponse = try await session.unary("haven.v1.Concerns", "Taxonomy", Haven_V1_TaxonomyRequest())
        if request.category.isEmpty { request.category = choose("What is it about?", taxonomy.categories.map { ($0.code, $0.label) }) }
        if request.severity.isEmpty {
            request.severity = choose("How serious?", [("low", "Low — worth noting"), ("moderate", "Moderate — someone should follow up"),
                                                      ("high", "High — needs attention today"), ("imminent", "Imminent — a child may be in danger now")])
        }
        while request.narrative.isEmpty { request.narrative = ask("What did you see or hear?") }
        if request.location.isEmpty { request.location = ask("Where (optional):") }
        if request.severity == "imminent", request.toldLeadInPerson.isEmpty {
            var answer = ""
            while answer != "yes" && answer != "no" { answer = ask("Have you told a designated lead in person? (yes/no)").lowercased() }
            request.toldLeadInPerson = answer
        }
    }
}
