import Foundation
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire
import Logging
import HavenLocking

/// A required plugin could not start, so the daemon must not run.
public struct RequiredPluginFailed: Error, CustomStringConvertible {
    public let pluginID: String
    public let reason: String
    public var description: String {
        "required plugin \"\(pluginID)\" failed to start: \(reason). Fix it, or remove it from [plugins] required to run without it."
    }
}

/// Starts the compiled-in plugins that the config enables, in dependency
/// order, and remembers each one's state for ListPlugins and for answering
/// calls to services that are not running.
public final class PluginHost: Sendable {
    public enum State: Sendable, Equatable {
        case disabled
        case enabled
        case failed(String)
    }

    public struct Entry: Sendable {
        public let plugin: any HavenPlugin
        public var state: State
        public let required: Bool
        public var activation: PluginActivation?
        public var manifest: PluginManifest { plugin.manifest }
    }

    private let entries: Locked<[Entry]>
    private let logger: Logger
    private let configSource: String

    public init(plugins: [any HavenPlugin], configuration: DaemonConfiguration, logger: Logger) {
        self.logger = logger
        self.configSource = configuration.source
        self.entries = Locked(plugins.map { plugin in
            let id = plugin.manifest.id
            return Entry(
                plugin: plugin,
                state: configuration.enabledPlugins.contains(id) ? .enabled : .disabled,
                required: configuration.requiredPlugins.contains(id))
        })
    }

    public var snapshot: [Entry] { entries.withLock { $0 } }

    /// Every migration identifier of every compiled-in plugin, enabled or not.
    public var knownMigrations: Set<String> {
        Set(snapshot.flatMap { MigrationSet(namespace: $0.manifest.id, migrations: $0.plugin.migrations).identifiers })
    }

    /// Migrates, then activates each enabled plugin after its dependencies.
    /// A failure marks the plugin failed (and its dependents); a failure of a
    /// required plugin throws.
    public func start(database: HavenDatabase, makeContext: (any HavenPlugin) -> PluginContext) async throws {
        for index in try activationOrder() {
            let entry = snapshot[index]
            guard entry.state == .enabled else { continue }
            let id = entry.manifest.id
            if let reason = dependencyProblem(of: entry) {
                try markFailed(index, reason)
                continue
            }
            do {
                try database.migrate(MigrationSet(namespace: id, migrations: entry.plugin.migrations))
                let activation = try await entry.plugin.activate(makeContext(entry.plugin))
                entries.withLock { $0[index].activation = activation }
                logger.info("plugin started", metadata: ["plugin": "\(id)", "version": "\(entry.manifest.version)"])
            } catch {
                try markFailed(index, "\(error)")
            }
        }
    }

    private func markFailed(_ index: Int, _ reason: String) throws {
        let entry = entries.withLock { entries in
            entries[index].state = .failed(reason)
            return entries[index]
        }
        if entry.required {
            throw RequiredPluginFailed(pluginID: entry.manifest.id, reason: reason)
        }
        logger.error("plugin failed; the daemon keeps serving without it",
                     metadata: ["plugin": "\(entry.manifest.id)", "reason": "\(reason)"])
    }

    private func dependencyProblem(of entry: Entry) -> String? {
        let all = snapshot
        for dependency in entry.manifest.dependencies {
            guard let other = all.first(where: { $0.manifest.id == dependency }) else {
                return "it depends on plugin \"\(dependency)\", which is not compiled into this havend"
            }
            switch other.state {
            case .disabled:
                return "it depends on plugin \"\(dependency)\", which is disabled; add \"\(dependency)\" to [plugins] enabled"
            case .failed:
                return "it depends on plugin \"\(dependency)\", which failed to start"
            case .enabled:
                continue
            }
        }
        return nil
    }

    /// Indices in an order where every plugin comes after its dependencies.
    private func activationOrder() throws -> [Int] {
        let all = snapshot
        let indexByID = Dictionary(uniqueKeysWithValues: all.enumerated().map { ($1.manifest.id, $0) })
        var order: [Int] = []
        var visiting: Set<Int> = []
        var done: Set<Int> = []
        func visit(_ i: Int, path: [String]) throws {
            if done.contains(i) { return }
            guard !visiting.contains(i) else {
                throw RequiredPluginFailed(pluginID: all[i].manifest.id, reason: "plugin dependencies form a cycle: \((path + [all[i].manifest.id]).joined(separator: " -> "))")
            }
            visiting.insert(i)
            for dependency in all[i].manifest.dependencies {
                if let j = indexByID[dependency] { try visit(j, path: path + [all[i].manifest.id]) }
            }
            visiting.remove(i)
            done.insert(i)
            order.append(i)
        }
        for i in all.indices { try visit(i, path: []) }
        return order
    }

    /// Services of running plugins, with the id of the plugin that serves each.
    public var runningServices: [(pluginID: String, service: ServiceDefinition)] {
        snapshot.flatMap { entry in
            (entry.activation?.services ?? []).map { (entry.manifest.id, $0) }
        }
    }

    public var eventSubscriptions: [(pluginID: String, subscription: EventSubscription)] {
        snapshot.flatMap { entry in (entry.activation?.eventSubscriptions ?? []).map { (entry.manifest.id, $0) } }
    }

    public var timelineContributors: [(pluginID: String, contributor: any TimelineContributor)] {
        snapshot.flatMap { entry in (entry.activation?.timelineContributors ?? []).map { (entry.manifest.id, $0) } }
    }

    /// For each service of a plugin that is not running: the status a call gets.
    public var unavailableServices: [String: RPCError] {
        var result: [String: RPCError] = [:]
        for entry in snapshot where entry.activation == nil {
            let id = entry.manifest.id
            for service in entry.manifest.services {
                switch entry.state {
                case .disabled, .enabled:
                    result[service] = .unimplemented(
                        "\(service) is served by the plugin \"\(id)\", which is not enabled on this daemon; "
                        + "to enable it, add \"\(id)\" to [plugins] enabled in the config (\(configSource)) and restart havend")
                case .failed(let reason):
                    result[service] = .unimplemented(
                        "\(service) is served by the plugin \"\(id)\", which failed to start (\(reason)); see the daemon log")
                }
            }
        }
        return result
    }

    public var pluginInfos: [Haven_V1_PluginInfo] {
        snapshot.map { entry in
            var info = Haven_V1_PluginInfo()
            info.id = entry.manifest.id
            info.version = entry.manifest.version
            info.description_p = entry.manifest.description
            info.services = entry.manifest.services
            info.dependsOn = entry.manifest.dependencies
            info.required = entry.required
            switch entry.state {
            case .disabled: info.state = .disabled
            case .enabled: info.state = entry.activation == nil ? .disabled : .enabled
            case .failed(let reason):
                info.state = .failed
                info.error = reason
            }
            return info
        }
    }

    /// Stops running plugins in reverse start order.
    public func stop() async {
        for entry in snapshot.reversed() {
            if let stop = entry.activation?.stop { await stop() }
        }
    }
}
