import HavenStorage
import Logging

/// What the host gives a plugin when it activates.
public struct PluginContext: Sendable {
    public let logger: Logger
    public let database: HavenDatabase
    /// The value the plugin's `readSettings` returned.
    public let settings: any Sendable
    /// Directory of the config file, to resolve relative paths in settings.
    public let configDirectory: String
    /// Access checks, audit, outbox and directory.
    public let core: any CoreServices

    public init(logger: Logger, database: HavenDatabase, settings: any Sendable, configDirectory: String, core: any CoreServices) {
        self.logger = logger
        self.database = database
        self.settings = settings
        self.configDirectory = configDirectory
        self.core = core
    }

    /// This daemon's node id, stamped on every record it creates.
    public var nodeID: String { core.nodeID }

    /// The settings as the plugin's own type.
    public func settings<T>(as type: T.Type) -> T? { settings as? T }
}
