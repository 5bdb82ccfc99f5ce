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
    /// This daemon's node id, stamped on every record it creates.
    public let nodeID: String

    public init(logger: Logger, database: HavenDatabase, settings: any Sendable, configDirectory: String, nodeID: String) {
        self.logger = logger
        self.database = database
        self.settings = settings
        self.configDirectory = configDirectory
        self.nodeID = nodeID
    }

    /// The settings as the plugin's own type.
    public func settings<T>(as type: T.Type) -> T? { settings as? T }
}
