import ArgumentParser
import HavenProto

/// `haven plugins`: every compiled-in plugin and its state.
struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "List the compiled-in plugins: enabled, disabled or failed, with their services.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await withSession(global) { session in
            let response: Haven_V1_ListPluginsResponse = try await session.unary(
                "haven.v1.Daemon", "ListPlugins", Haven_V1_ListPluginsRequest())
            switch global.output {
            case .json:
                try JSONOutput.print(response)
            case .table:
                var table = Table("PLUGIN", "VERSION", "STATE", "SERVICES", "NOTE")
                for plugin in response.plugins {
                    let state: String = switch plugin.state {
                    case .enabled: "enabled"
                    case .disabled: "disabled"
                    case .failed: "FAILED"
                    default: "unknown"
                    }
                    var notes: [String] = []
                    if plugin.required { notes.append("required") }
                    if !plugin.dependsOn.isEmpty { notes.append("needs \(plugin.dependsOn.joined(separator: ", "))") }
                    if !plugin.error.isEmpty { notes.append(plugin.error) }
                    table.add(plugin.id, plugin.version, state, plugin.services.joined(separator: ", "), notes.joined(separator: "; "))
                }
                print(table.render())
            }
        }
    }
}
