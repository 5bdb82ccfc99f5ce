import ArgumentParser

/// `haven`: the thin CLI. Each subcommand turns arguments into a request,
/// sends it to havend, and renders the response. No business rule lives here.
public struct HavenCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "haven",
        abstract: "Talk to havend, the Haven student-wellbeing daemon.",
        discussion: """
        Exit codes: 0 success, 1 the daemon refused or failed the request \
        (its status code and message are printed), 64 usage error, 69 could \
        not reach the daemon.
        """,
        version: "0.1.0",
        subcommands: [
            StatusCommand.self,
            PluginsCommand.self,
            RosterCommand.self,
            StudentCommand.self,
            StaffCommand.self,
            CaseloadCommand.self,
            TokenCommand.self,
            NodeCommand.self,
            SyncCommand.self,
            ConcernCommand.self,
            ScreeningCommand.self,
            ReferralCommand.self,
            RoutingCommand.self,
            DutyCommand.self,
            ReportCommand.self,
            TimelineCommand.self,
            GrantCommand.self,
            AccessCommand.self,
            AuditCommand.self,
            EventsCommand.self,
            NotificationsCommand.self,
            CallCommand.self,
        ])

    public init() {}
}
