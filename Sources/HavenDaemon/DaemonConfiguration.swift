import Foundation
import HavenConfig
import HavenCore
import HavenPaths
import HavenPluginAPI
import HavenRPCServer
import Logging

/// What the command line says, which wins over the config file.
public struct CommandLineOverrides: Sendable {
    public var mode: DaemonMode?
    public var socketPath: String?
    public var dataDirectory: String?
    public var configFile: String?

    public init(mode: DaemonMode? = nil, socketPath: String? = nil, dataDirectory: String? = nil, configFile: String? = nil) {
        self.mode = mode
        self.socketPath = socketPath
        self.dataDirectory = dataDirectory
        self.configFile = configFile
    }
}

/// The daemon's settings after reading the config file and applying the
/// command line. Building one validates everything; nothing starts on error.
public struct DaemonConfiguration: Sendable {
    public var mode: DaemonMode
    public var socketPath: String
    public var dataDirectory: String
    /// Group that owns the socket and its directory; nil = the daemon's own group.
    public var socketGroup: String?
    public var logLevel: Logger.Level
    public var limits: ServerLimits
    public var enabledPlugins: [String]
    public var requiredPlugins: [String]
    /// What each compiled-in plugin's `readSettings` returned, by plugin id.
    public var pluginSettings: [String: any Sendable]
    /// The core's `[access]` and `[concerns]` settings.
    public var core: CoreSettings
    /// `[remote] listen`: TCP host and port for ttrpc over TLS; nil = the
    /// Unix socket is the only listener (the default).
    public var remoteListen: TCPAddress?
    /// `[sync]`: how often a linked desktop syncs, and rows per batch.
    public var syncInterval: Duration = .seconds(30)
    public var syncBatchSize = 500
    /// Seed synthetic demo data into an empty database at start-up.
    public var seedDemoData = false
    /// Where the settings came from: a path, or the embedded default.
    public var source: String
    /// Relative paths in settings are resolved against this directory.
    public var configDirectory: String

    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("haven.sqlite") }

    /// Reads the config (file or embedded default) and applies `overrides`.
    public static func load(
        overrides: CommandLineOverrides, plugins: [any HavenPlugin],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> DaemonConfiguration {
        let document: ConfigDocument
        if let path = overrides.configFile {
            document = try ConfigDocument(contentsOf: path)
        } else {
            let defaultFile = DefaultPaths.forMode(overrides.mode ?? .desktop, environment: environment).configFile
            if FileManager.default.fileExists(atPath: defaultFile) {
                document = try ConfigDocument(contentsOf: defaultFile)
            } else {
                document = try ConfigDocument(text: EmbeddedDefaultConfig.text, name: EmbeddedDefaultConfig.name)
            }
        }
        return try parse(document, overrides: overrides, plugins: plugins, environment: environment)
    }

    public static func parse(
        _ document: ConfigDocument, overrides: CommandLineOverrides, plugins: [any HavenPlugin],
        environment: [String: String]
    ) throws(ConfigError) -> DaemonConfiguration {
        let root = document.reader()

        let daemon = root.section("daemon")
        let configuredMode = daemon.string("mode", oneOf: DaemonMode.allCases.map(\.rawValue)).flatMap(DaemonMode.init)
        let mode = overrides.mode ?? configuredMode ?? .desktop
        let defaults = DefaultPaths.forMode(mode, environment: environment)
        // Read every key even when a flag overrides it, so a typo is still reported.
        let fileSocket = daemon.string("socket")
        let fileDataDirectory = daemon.string("data_dir")
        let socket = overrides.socketPath ?? fileSocket ?? defaults.socket
        let dataDirectory = overrides.dataDirectory ?? fileDataDirectory ?? defaults.dataDirectory
        let socketGroup = daemon.string("socket_group")
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        let logLevel = daemon.string("log_level", oneOf: levels).flatMap(Logger.Level.init(rawValue:)) ?? .info
        daemon.rejectUnknownKeys()

        let limitsSection = root.section("limits")
        var limits = ServerLimits()
        if let n = limitsSection.integer("max_concurrent_calls_per_connection", range: 1...100_000) {
            limits.maxConcurrentCallsPerConnection = n
        }
        if let n = limitsSection.integer("max_connections", range: 1...1_000_000) { limits.maxConnections = n }
        if let n = limitsSection.integer("idle_timeout_seconds", range: 1...86_400) { limits.idleTimeout = .seconds(n) }
        if let n = limitsSection.integer("partial_frame_timeout_seconds", range: 1...3_600) { limits.partialFrameTimeout = .seconds(n) }
        if let n = limitsSection.integer("shutdown_grace_seconds", range: 0...3_600) { limits.shutdownGracePeriod = .seconds(n) }
        limitsSection.rejectUnknownKeys()

        let pluginsSection = root.section("plugins")
        let known = plugins.map(\.manifest.id)
        let knownList = known.map { "\"\($0)\"" }.joined(separator: ", ")
        let enabled = pluginsSection.stringArray("enabled") ?? []
        let required = pluginsSection.stringArray("required") ?? []
        for id in enabled where !known.contains(id) {
            pluginsSection.report("enabled", "no plugin with id \"\(id)\" is compiled into this havend (compiled in: \(knownList))")
        }
        for id in required where !known.contains(id) {
            pluginsSection.report("required", "no plugin with id \"\(id)\" is compiled into this havend (compiled in: \(knownList))")
        }
        for id in required where known.contains(id) && !enabled.contains(id) {
            pluginsSection.report("required", "plugin \"\(id)\" is required but not enabled; add it to [plugins] enabled")
        }
        var settings: [String: any Sendable] = [:]
        for plugin in plugins {
            let section = pluginsSection.section(plugin.manifest.id)
            settings[plugin.manifest.id] = plugin.readSettings(section)
            section.rejectUnknownKeys()
        }
        pluginsSection.rejectUnknownKeys(hint: "[plugins] holds enabled, required and one table per compiled-in plugin (\(knownList))")

        let core = CoreSettings.read(access: root.section("access"), concerns: root.section("concerns"))

        let remote = root.section("remote")
        var remoteListen: TCPAddress?
        if let listen = remote.string("listen") {
            // Port 0: any free port (tests); `haven node identity` tells which.
            remoteListen = TCPAddress(listen, ports: 0...65_535)
            if remoteListen == nil { remote.report("listen", "expected host:port, such as \"0.0.0.0:7443\" (got \"\(listen)\")") }
        }
        if let n = remote.integer("max_connections", range: 1...100_000) { limits.maxRemoteConnections = n }
        remote.rejectUnknownKeys()
        let sync = root.section("sync")
        let syncInterval = sync.integer("interval_seconds", range: 1...86_400).map { Duration.seconds($0) } ?? .seconds(30)
        let syncBatchSize = sync.integer("batch_size", range: 1...5_000) ?? 500
        sync.rejectUnknownKeys()

        root.rejectUnknownKeys(hint: "the top-level tables are [daemon], [limits], [access], [concerns], [plugins], [remote] and [sync]")
        try root.throwIfIssues()

        let directory = document.name == EmbeddedDefaultConfig.name
            ? FileManager.default.currentDirectoryPath
            : ((document.name as NSString).deletingLastPathComponent as String)
        var configuration = DaemonConfiguration(
            mode: mode, socketPath: socket, dataDirectory: dataDirectory, socketGroup: socketGroup, logLevel: logLevel,
            limits: limits, enabledPlugins: enabled, requiredPlugins: required, pluginSettings: settings,
            core: core, source: document.name, configDirectory: directory.isEmpty ? "." : directory)
        configuration.remoteListen = remoteListen
        configuration.syncInterval = syncInterval
        configuration.syncBatchSize = syncBatchSize
        return configuration
    }
}
