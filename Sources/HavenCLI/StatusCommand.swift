import ArgumentParser
import HavenJSON
import HavenProto

/// `haven status`: who the daemon is, who it thinks you are, and whether it is healthy.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the daemon's version, your identity as it sees it, and its health.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await withSession(global) { session in
            var request = Haven_V1_HelloRequest()
            request.clientName = "haven-cli"
            request.clientVersion = HavenCommand.configuration.version
            let hello: Haven_V1_HelloResponse = try await session.unary("haven.v1.Daemon", "Hello", request)
            let health: Haven_V1_HealthResponse = try await session.unary("haven.v1.Daemon", "Health", Haven_V1_HealthRequest())
            switch global.output {
            case .json:
                JSONOutput.print(.object([("hello", try JSONOutput.value(hello)), ("health", try JSONOutput.value(health))]))
            case .table:
                print(Self.render(hello, health, socket: session.client.socketPath))
            }
        }
    }

    static func render(_ hello: Haven_V1_HelloResponse, _ health: Haven_V1_HealthResponse, socket: String) -> String {
        var lines = KeyValues()
        lines.add("daemon", "havend \(hello.daemonVersion), \(hello.mode) mode, node \(hello.nodeID)")
        lines.add("socket", socket)
        lines.add("protocol", "versions \(hello.protocol.min)-\(hello.protocol.max)")
        let caller = hello.caller
        var you = "uid \(caller.uid), gid \(caller.gid), pid \(caller.pid) (\(caller.authMethod))"
        if caller.staffID.isEmpty {
            you += "; not linked to a staff account"
        } else {
            you += "; staff \(caller.displayName) [\(caller.staffID)], roles: \(caller.roles.joined(separator: ", "))"
        }
        lines.add("you", you)
        let status = health.status == .serving ? "SERVING" : "NOT SERVING"
        lines.add("health", "\(status), up \(health.uptimeSeconds)s")
        for component in health.components {
            lines.add("  \(component.name)", component.healthy ? component.detail : "FAILING: \(component.detail)")
        }
        lines.add("plugins", hello.plugins.isEmpty ? "none running" : hello.plugins.map { "\($0.id) \($0.version)" }.joined(separator: ", "))
        return lines.render()
    }
}
