import ArgumentParser
import Foundation
import HavenProto

/// `haven timeline STUDENT`.
struct TimelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "timeline", abstract: "Everything about one student that you may see, in time order.")
    @OptionGroup var global: GlobalOptions
    @Argument var student: String
    @Option var from: String?
    @Option var to: String?

    func run() async throws {
        try await withSession(global) { session in
            let request = try Haven_V1_GetTimelineRequest.with {
                $0.studentID = student
                if let from { $0.from = try Dates.timestamp(from, option: "--from") }
                if let to { $0.to = try Dates.timestamp(to, option: "--to") }
            }
            let r: Haven_V1_GetTimelineResponse = try await session.unary("haven.v1.Timeline", "Get", request)
            try emit(r, global) {
                var lines = [studentLabel(r.student), ""]
                if r.entries.isEmpty { lines.append("Nothing on the timeline that you may see.") }
                for e in r.entries {
                    lines.append("\(Dates.show(e.occurredAt))  [\(e.kind)] \(e.title)")
                    if !e.detail.isEmpty { lines.append(wrap(e.detail, indent: "                  ")) }
                }
                if r.hiddenEntries > 0 { lines += ["", "\(r.hiddenEntries) more entries exist that your role does not show."] }
                return lines.joined(separator: "\n")
            }
        }
    }
}

/// `haven audit log|verify`.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Who looked at what, and whether the record of it is intact.", subcommands: [Log.self, Verify.self])

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Who looked at a student's record (--student), or what a person looked at (--actor).")
        @OptionGroup var global: GlobalOptions
        @Option var student: String?
        @Option var actor: String?
        @Option var from: String?
        @Option var to: String?
        @Option var limit: Int32 = 100

        func run() async throws {
            try await withSession(global) { session in
                let request = try Haven_V1_AuditLogRequest.with {
                    $0.studentID = student ?? ""
                    $0.actorID = actor ?? ""
                    if let from { $0.from = try Dates.timestamp(from, option: "--from") }
                    if let to { $0.to = try Dates.timestamp(to, option: "--to") }
                    $0.limit = limit
                }
                let r: Haven_V1_AuditLogResponse = try await session.unary("haven.v1.Audit", "Log", request)
                try emit(r, global) {
                    var table = Table("#", "WHEN", "WHO", "ACTION", "STUDENT", "OUTCOME", "RECORDS")
                    for e in r.entries {
                        table.add("\(e.sequence)", Dates.show(e.at), e.actorName.isEmpty ? e.actorID : e.actorName, e.action, e.studentID,
                                  e.outcome, e.recordIds.prefix(3).joined(separator: ",") + (e.recordIds.count > 3 ? ",…" : ""))
                    }
                    return table.render()
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Walk the hash chain and report the first broken entry.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_VerifyAuditResponse = try await session.unary("haven.v1.Audit", "Verify", Haven_V1_VerifyAuditRequest())
                try emit(r, global) {
                    r.ok ? "The audit log is intact: \(r.entriesChecked) entries, head \(r.headHash.prefix(16))…"
                        : "THE AUDIT LOG IS BROKEN at entry \(r.firstBadSequence): \(r.problem)\n(\(r.entriesChecked) entries before it check out)"
                }
                if !r.ok { throw ExitCode(ExitStatus.serverError) }
            }
        }
    }
}

/// `haven events watch`.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Follow the event stream.", subcommands: [Watch.self])

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print events as they happen (ids and codes, never narrative). Ctrl-C stops.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Start at this sequence number (default: only new events).") var from: Int64 = 0
        @Option(help: "Only this event type (repeat for more).") var type: [String] = []

        func run() async throws {
            try await withSession(global) { session in
                let stream = try session.client.serverStream(
                    "haven.v1.Events", "Subscribe", Haven_V1_SubscribeRequest.with { $0.fromSequence = from; $0.types = type }, as: Haven_V1_Event.self)
                for try await event in stream {
                    switch global.output {
                    case .json: print(JSONWriterLine.line(try JSONOutput.value(event)))
                    case .table:
                        let attributes = event.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                        print("\(event.sequence)  \(Dates.show(event.occurredAt))  \(event.type)  student=\(event.studentID) subject=\(event.subjectID) \(attributes)")
                    }
                    fflush(nil)
                }
            }
        }
    }
}

import HavenJSON
enum JSONWriterLine {
    static func line(_ value: JSONValue) -> String { JSONWriter.write(value, pretty: false) }
}

/// `haven access matrix|explain|emergency`.
struct AccessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "access", abstract: "Who may see what.", subcommands: [Matrix.self, Explain.self, Emergency.self])

    struct Matrix: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the permission matrix in plain words (for the annual privacy notice).")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_MatrixResponse = try await session.unary("haven.v1.Access", "Matrix", Haven_V1_MatrixRequest())
                try emit(r, global) { r.text }
            }
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Explain whether you (or a staff member) may see a student's records, and why.")
        @OptionGroup var global: GlobalOptions
        @Argument var student: String
        @Option var staff: String?
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_ExplainResponse = try await session.unary("haven.v1.Access", "Explain", Haven_V1_ExplainRequest.with { $0.studentID = student; $0.staffID = staff ?? "" })
                try emit(r, global) { (r.allowed ? "Yes (\(r.basis.kind)): " : "No: ") + r.explanation }
            }
        }
    }

    struct Emergency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open a student's record in an emergency (FERPA health-or-safety); needs a reason; administrators are told.")
        @OptionGroup var global: GlobalOptions
        @Argument var student: String
        @Option var reason: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_EmergencyAccess = try await session.unary("haven.v1.Access", "OpenEmergencyAccess", Haven_V1_EmergencyAccessRequest.with { $0.studentID = student; $0.reason = reason })
                try emit(r, global) { "Emergency access \(r.id) is open until \(Dates.show(r.expiresAt)). Administrators have been told." }
            }
        }
    }
}

/// `haven grant add|revoke|list`.
struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grant", abstract: "Give one staff member one student's case, for a purpose, until an expiry.", subcommands: [Add.self, Revoke.self, List.self])

    static func render(_ g: Haven_V1_Grant) -> String {
        var text = "Grant \(g.id): \(g.granteeName) may see student \(g.studentID) until \(Dates.show(g.expiresAt)) — \(g.purpose)"
        if g.lawEnforcement { text += " [law enforcement]" }
        if g.hasRevokedAt { text += " [revoked \(Dates.show(g.revokedAt)): \(g.revokeReason)]" }
        return text
    }

    struct Add: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var student: String
        @Option(help: "The staff member who gets access.") var to: String
        @Option var purpose: String
        @Option(help: "Until when (a date).") var until: String?
        @Option(help: "Or: for this many days.") var days: Int?
        @Option(help: "Required when granting to an SRO: why this is shared with law enforcement.") var lawEnforcementReason: String?

        func run() async throws {
            let expires: Date
            if let until { guard let d = Dates.parse(until) else { throw ValidationError("--until: not a date") }; expires = d }
            else if let days { expires = Date().addingTimeInterval(Double(days) * 86_400) }
            else { throw ValidationError("give --until or --days: every grant expires") }
            try await withSession(global) { session in
                let g: Haven_V1_Grant = try await session.unary("haven.v1.Access", "CreateGrant", Haven_V1_CreateGrantRequest.with {
                    $0.studentID = student
                    $0.granteeID = to
                    $0.purpose = purpose
                    $0.expiresAt = .init(date: expires)
                    $0.lawEnforcementReason = lawEnforcementReason ?? ""
                })
                try emit(g, global) { GrantCommand.render(g) }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Argument var grant: String
        @Option var reason: String
        func run() async throws {
            try await withSession(global) { session in
                let g: Haven_V1_Grant = try await session.unary("haven.v1.Access", "RevokeGrant", Haven_V1_RevokeGrantRequest.with { $0.grantID = grant; $0.reason = reason })
                try emit(g, global) { GrantCommand.render(g) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var global: GlobalOptions
        @Option var student: String?
        @Option var staff: String?
        @Flag var includeEnded = false
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_ListGrantsResponse = try await session.unary("haven.v1.Access", "ListGrants", Haven_V1_ListGrantsRequest.with {
                    $0.studentID = student ?? ""
                    $0.granteeID = staff ?? ""
                    $0.includeEnded = includeEnded
                })
                try emit(r, global) { r.grants.isEmpty ? "No grants." : r.grants.map(GrantCommand.render).joined(separator: "\n") }
            }
        }
    }
}

/// `haven notifications`.
struct NotificationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "notifications", abstract: "Your notifications (emergency access, overdue referrals, ...).")
    @OptionGroup var global: GlobalOptions
    @Flag var unread = false
    @Flag(help: "Mark the listed notifications read.") var markRead = false

    func run() async throws {
        try await withSession(global) { session in
            let r: Haven_V1_ListNotificationsResponse = try await session.unary("haven.v1.Notifications", "List", Haven_V1_ListNotificationsRequest.with { $0.unreadOnly = unread })
            try emit(r, global) {
                if r.notifications.isEmpty { return "No notifications." }
                return r.notifications.map { "\(Dates.show($0.createdAt))  \($0.hasReadAt ? " " : "*") [\($0.kind)] \($0.message)" }.joined(separator: "\n")
            }
            if markRead, !r.notifications.isEmpty {
                let _: Haven_V1_MarkReadResponse = try await session.unary("haven.v1.Notifications", "MarkRead", Haven_V1_MarkReadRequest.with { $0.notificationIds = r.notifications.map(\.id) })
            }
        }
    }
}
