import ArgumentParser
import Foundation
import HavenReferralsProto

/// `haven referral ...`, `haven routing ...`, `haven duty ...`.
struct ReferralCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "referral", abstract: "Referrals: who must act, by when.",
        subcommands: [List.self, Show.self, Ack.self, Start.self, Decline.self, Assign.self, Close.self, Note.self, External.self])

    static let service = "haven.referrals.v1.Referrals"

    static func render(_ r: Haven_Referrals_V1_Referral) -> String {
        var kv = KeyValues()
        kv.add("referral", "\(r.id) — \(r.priority.uppercased())")
        kv.add("student", "\(r.studentName) [\(r.studentID)]")
        kv.add("why", r.reason)
        kv.add("status", r.status + (r.disposition.isEmpty ? "" : " — \(r.disposition)") + (r.overdue && r.status == "open" ? " (OVERDUE)" : ""))
        kv.add("owner", r.ownerName.isEmpty ? "nobody yet" : r.ownerName)
        kv.add("acknowledge by", Dates.show(r.acknowledgeBy))
        if r.hasNextEscalationAt { kv.add("next escalation", Dates.show(r.nextEscalationAt)) }
        kv.add("recipients", r.recipients.map { "\($0.name)\($0.level > 0 ? " (step \($0.level))" : "")" }.joined(separator: ", "))
        kv.add("from", "\(r.sourceType) \(r.sourceID) (\(r.eventType)), rule \(r.rule)")
        var text = kv.render()
        if !r.history.isEmpty {
            text += "\n\nHistory:"
            for a in r.history {
                text += "\n  \(Dates.show(a.at))  \(a.actorName.isEmpty ? a.actorID : a.actorName): \(a.kind)" + (a.disposition.isEmpty ? "" : " (\(a.disposition))")
                if !a.note.isEmpty { text += "\n" + wrap(a.note, indent: "      ") }
            }
        }
        for e in r.external {
            text += "\n\nExternal: \(e.provider), sent \(e.sentOn) — \(e.status)"
            for h in e.history { text += "\n  \(h)" }
        }
        return text
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Referrals you may see (not closed, unless --status).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Only referrals you own or received.") var mine = false
        @Flag(help: "Only open referrals past their acknowledgement deadline.") var overdue = false
        @Option(help: "open, acknowledged, in_progress, closed, active (default) or all.") var status: String = ""
        @Option var student: String?
        @Option var priority: String?
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_ListReferralsResponse = try await session.unary(ReferralCommand.service, "List", Haven_Referrals_V1_ListReferralsRequest.with {
                    $0.mine = mine
                    $0.overdue = overdue
                    $0.status = status
                    $0.studentID = student ?? ""
                    $0.priority = priority ?? ""
                })
                try emit(r, global) {
                    if r.referrals.isEmpty { return "No referrals." }
                    var table = Table("ID", "PRIORITY", "STATUS", "STUDENT", "OWNER", "ACK BY", "RULE")
                    for x in r.referrals {
                        table.add(x.id, x.priority, x.status + (x.overdue && x.status == "open" ? " OVERDUE" : ""), x.studentName,
                                  x.ownerName.isEmpty ? "-" : x.ownerName, Dates.show(x.acknowledgeBy), x.rule)
                    }
                    return table.render()
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var referral: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_Referral = try await session.unary(ReferralCommand.service, "Get", Haven_Referrals_V1_GetReferralRequest.with { $0.referralID = referral })
                try emit(r, global) { ReferralCommand.render(r) }
            }
        }
    }

    static func action(_ method: String, _ referral: String, note: String, _ global: GlobalOptions) async throws {
        try await withSession(global) { session in
            let r: Haven_Referrals_V1_Referral = try await session.unary(service, method, Haven_Referrals_V1_ReferralActionRequest.with { $0.referralID = referral; $0.note = note })
            try emit(r, global) { render(r) }
        }
    }

    struct Ack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Acknowledge: you have it (and own it if nobody does).")
        @OptionGroup var global: GlobalOptions
        @Argument var referral: String
        @Option var note: String = ""
        func run() async throws { try await ReferralCommand.action("Acknowledge", referral, note: note, global) }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark that work has started.")
        @OptionGroup var global: GlobalOptions
        @Argument var referral: String
        @Option var note: String = ""
        func run() async throws { try await ReferralCommand.action("Start", referral, note: note, global) }
    }

    struct Decline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decline with a reason; it goes to the next step of the ladder.")
        @OptionGroup var global: GlobalOptions
        @Argument var referral: String
        @Option var reason: String
        func run() async throws { try await ReferralCommand.action("Decline", referral, note: reason, global) }
    }

    struct Note: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var referral: String
        @Argument var text: [String]
        func run() async throws { try await ReferralCommand.action("AddNote", referral, note: text.joined(separator: " "), global) }
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give the referral to another staff member (with a reason; involving an SRO is recorded as such).")
        @OptionGroup var global: GlobalOptions
        @Argument var referral: String
        @Option var to: String
        @Option var reason: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_Referral = try await session.unary(ReferralCommand.service, "Assign", Haven_Referrals_V1_AssignReferralRequest.with {
                    $0.referralID = referral; $0.staffID = to; $0.reason = reason
                })
                try emit(r, global) { ReferralCommand.render(r) }
            }
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close with a disposition: resolved, referred_external, monitoring, no_action_needed, transferred.")
        @OptionGroup var global: GlobalOptions
        @Argument var referral: String
        @Option var disposition: String
        @Option var note: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_Referral = try await session.unary(ReferralCommand.service, "Close", Haven_Referrals_V1_CloseReferralRequest.with {
                    $0.referralID = referral; $0.disposition = disposition; $0.note = note
                })
                try emit(r, global) { ReferralCommand.render(r) }
            }
        }
    }

    struct External: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a referral to a community provider, or update its status.")
        @OptionGroup var global: GlobalOptions
        @Argument var referral: String
        @Option(help: "A new external referral to this provider.") var provider: String?
        @Option(help: "YYYY-MM-DD (default today).") var sent: String = ""
        @Option(help: "Update this external referral's status.") var update: String?
        @Option(help: "sent, accepted, declined, first_appointment, completed, unable_to_reach.") var status: String = ""
        @Option var note: String = ""
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_Referral
                if let provider {
                    r = try await session.unary(ReferralCommand.service, "AddExternal", Haven_Referrals_V1_AddExternalRequest.with {
                        $0.referralID = referral; $0.provider = provider; $0.sentOn = sent; $0.note = note
                    })
                } else if let update {
                    r = try await session.unary(ReferralCommand.service, "UpdateExternal", Haven_Referrals_V1_UpdateExternalRequest.with {
                        $0.referralID = referral; $0.externalID = update; $0.status = status; $0.note = note
                    })
                } else {
                    throw CLIFailure("give --provider (a new external referral) or --update ID --status ...", exitCode: ExitStatus.usage)
                }
                try emit(r, global) { ReferralCommand.render(r) }
            }
        }
    }
}

struct RoutingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "routing", abstract: "The routing rules.", subcommands: [Rules.self, Explain.self, Reload.self])

    struct Rules: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The rules in force, in words.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_ListRulesResponse = try await session.unary(ReferralCommand.service, "ListRules", Haven_Referrals_V1_ListRulesRequest())
                try emit(r, global) { (["Rules from \(r.source):"] + r.rules.map { "\n\($0.name): \($0.description_p)\n" + wrap($0.text) }).joined(separator: "\n") }
            }
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which rules match an event and what they would do, without doing it.",
            discussion: #"The event file: {"type": "screening.completed", "student_id": "...", "attributes": {"instrument": "asq", "flags": "suicide_risk,acute_suicide_risk"}}"#)
        @OptionGroup var global: GlobalOptions
        @Option(help: "A JSON file describing the event.") var event: String
        func run() async throws {
            guard let data = FileManager.default.contents(atPath: event), let text = String(data: data, encoding: .utf8) else {
                throw CLIFailure("could not read \(event)", exitCode: ExitStatus.usage)
            }
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_ExplainRoutingResponse = try await session.unary(ReferralCommand.service, "ExplainRouting", Haven_Referrals_V1_ExplainRoutingRequest.with { $0.eventJson = text })
                try emit(r, global) {
                    var lines = ["\(r.referralsThatWouldBeCreated) referral(s) would be created."]
                    for m in r.rules {
                        lines.append("\n\(m.matched ? "MATCH" : "no   ") \(m.rule)" + (m.matched ? ": \(m.priority) to \(m.targets.joined(separator: ", ")), acknowledge within \(m.acknowledgeWithin)" : ""))
                        for reason in m.reasons { lines.append("        \(reason)") }
                        if m.matched {
                            for r in m.resolved { lines.append("        → \(r)") }
                            for e in m.escalation { lines.append("        escalation \(e)") }
                        }
                    }
                    return lines.joined(separator: "\n")
                }
            }
        }
    }

    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-read the rules file; a bad file is refused and the rules in force stay.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_ReloadRulesResponse = try await session.unary(ReferralCommand.service, "ReloadRules", Haven_Referrals_V1_ReloadRulesRequest())
                try emit(r, global) {
                    r.reloaded ? "Loaded \(r.rules) rules from \(r.source)."
                        : (["\(r.source) was refused; the \(r.rules) rules in force stay:"] + r.problems.map { p in
                            "  line \(p.line): " + (p.rule.isEmpty ? "" : "rule \"\(p.rule)\": ") + (p.key.isEmpty ? "" : "\(p.key): ") + p.message
                        }).joined(separator: "\n")
                }
                if !r.reloaded { throw ExitCode(ExitStatus.serverError) }
            }
        }
    }
}

struct DutyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "duty", abstract: "The duty rota: who is the on-duty counselor and the designated lead.", subcommands: [Set.self, Show.self, Clear.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put someone on the rota.")
        @OptionGroup var global: GlobalOptions
        @Option var school: String
        @Option(help: "counselor or designated_lead.") var duty: String
        @Option var staff: String
        @Option(help: "Days, e.g. mon,tue,wed (default every day).") var days: String = ""
        @Option(help: "HH:MM (with --to; default all day).") var from: String = ""
        @Option var to: String = ""
        @Flag(help: "Covers whenever nobody else is on duty.") var fallback = false
        func run() async throws {
            try await withSession(global) { session in
                let e: Haven_Referrals_V1_DutyEntry = try await session.unary(ReferralCommand.service, "SetDuty", Haven_Referrals_V1_SetDutyRequest.with {
                    $0.schoolID = school; $0.duty = duty; $0.staffID = staff
                    $0.days = days.split(separator: ",").map(String.init); $0.from = from; $0.to = to; $0.fallback = fallback
                })
                try emit(e, global) { "On the rota: \(e.staffName) as \(e.duty)\(e.fallback ? " (fallback)" : "") — entry \(e.id)" }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option var school: String
        @Option(help: "At this time (default now).") var at: String?
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_ShowDutyResponse = try await session.unary(ReferralCommand.service, "ShowDuty", try Haven_Referrals_V1_ShowDutyRequest.with {
                    $0.schoolID = school
                    if let at { $0.at = try Dates.timestamp(at, option: "--at") }
                })
                try emit(r, global) {
                    var table = Table("ENTRY", "DUTY", "STAFF", "DAYS", "HOURS", "FALLBACK")
                    for e in r.entries {
                        table.add(e.id, e.duty, e.staffName, e.days.isEmpty ? "every day" : e.days.joined(separator: ","),
                                  e.from.isEmpty ? "all day" : "\(e.from)-\(e.to)", e.fallback ? "yes" : "")
                    }
                    return "On duty now:\n" + r.onDutyNow.map { "  \($0)" }.joined(separator: "\n") + "\n\n" + table.render()
                }
            }
        }
    }

    struct Clear: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var entry: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_Referrals_V1_ClearDutyResponse = try await session.unary(ReferralCommand.service, "ClearDuty", Haven_Referrals_V1_ClearDutyRequest.with { $0.entryID = entry })
                try emit(r, global) { r.cleared ? "Cleared." : "No such entry on the rota." }
            }
        }
    }
}
