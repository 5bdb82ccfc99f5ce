import HavenConfig
import HavenStorage

/// What a plugin is, before it runs: shown by `ListPlugins` whether or not
/// the school enabled it.
public struct PluginManifest: Sendable {
    /// Stable id used in the config (`[plugins] enabled = [...]`) and as the
    /// namespace of its migrations and tables.
    public let id: String
    public let version: String
    public let description: String
    /// Plugin ids that must be enabled and running for this one to start.
    public let dependencies: [String]
    /// Fully-qualified services it serves, e.g. "haven.screening.v1.Screening".
    public let services: [String]
    /// Base64 of a serialized FileDescriptorSet of its .proto files (with imports),
    /// served by Daemon/Describe. Written by Scripts/generate-protos.
    public let descriptorSetBase64: String?

    public init(
        id: String, version: String, description: String, dependencies: [String] = [],
        services: [String], descriptorSetBase64: String? = nil
    ) {
        self.id = id
        self.version = version
        self.description = description
        self.dependencies = dependencies
        self.services = services
        self.descriptorSetBase64 = descriptorSetBase64
    }
}

/// A compiled-in plugin. The host calls, in order: `readSettings` (at config
/// load, for every compiled-in plugin, so a typo is caught even in a disabled
/// plugin's table), then for enabled plugins the migrations, then `activate`.
public protocol HavenPlugin: Sendable {
    var manifest: PluginManifest { get }

    /// Schema changes, in order. The host stores them as "<id>/<name>"; by
    /// convention a plugin's tables are prefixed with its id.
    var migrations: [Migration] { get }

    /// Reads the plugin's `[plugins.<id>]` table. Report problems on the
    /// section (they are shown with their line); keys not read are reported
    /// by the host as unknown. The returned value reaches `activate`.
    func readSettings(_ section: ConfigSection) -> any Sendable

    /// Starts the plugin: returns its services, event subscriptions and
    /// timeline contributions. Throwing marks the plugin failed.
    func activate(_ context: PluginContext) async throws -> PluginActivation

    /// Adds the plugin's part of the synthetic demo (`havend --demo`), after
    /// the core has seeded its made-up school and before events are delivered.
    func seedDemoData(_ context: PluginContext) async throws
}

extension HavenPlugin {
    public var migrations: [Migration] { [] }
    public func readSettings(_ section: ConfigSection) -> any Sendable { () }
    public func seedDemoData(_ context: PluginContext) async throws {}
}

/// What a running plugin contributes.
public struct PluginActivation: Sendable {
    public var services: [ServiceDefinition]
    public var eventSubscriptions: [EventSubscription]
    public var timelineContributors: [any TimelineContributor]
    /// Called on shutdown, before the database closes.
    public var stop: (@Sendable () async -> Void)?

    public init(
        services: [ServiceDefinition] = [], eventSubscriptions: [EventSubscription] = [],
        timelineContributors: [any TimelineContributor] = [], stop: (@Sendable () async -> Void)? = nil
    ) {
        self.services = services
        self.eventSubscriptions = eventSubscriptions
        self.timelineContributors = timelineContributors
        self.stop = stop
    }
}
