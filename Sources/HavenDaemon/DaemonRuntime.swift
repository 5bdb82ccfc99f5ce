#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HavenCore
import HavenPaths
import HavenPluginAPI
import HavenProto
import HavenRPCClient
import HavenRPCServer
import HavenStorage
import HavenTLS
import Logging
import NIOCore
import NIOPosix

/// Why the daemon could not start, for the operator.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The daemon assembled from its parts. `start()` brings them up in order —
/// storage, then plugins, then the listener — and `RunningDaemon.stop()`
/// takes them down in reverse.
public struct DaemonRuntime: Sendable {
    public static let version = "0.1.0"

    public let configuration: DaemonConfiguration
    public let plugins: [any HavenPlugin]
    public let logger: Logger
    /// The daemon's time; tests use a manual clock to make deadlines pass.
    public let clock: any HavenClock

    public init(configuration: DaemonConfiguration, plugins: [any HavenPlugin], logger: Logger, clock: any HavenClock = SystemClock()) {
        self.configuration = configuration
        self.plugins = plugins
        self.logger = logger
        self.clock = clock
    }

    public func start() async throws -> RunningDaemon {
        let config = configuration
        logger.info("starting havend", metadata: [
            "version": "\(Self.version)", "mode": "\(config.mode.rawValue)", "config": "\(config.source)",
        ])

        // 1. Storage.
        try createDataDirectory(config.dataDirectory)
        let host = PluginHost(plugins: plugins, configuration: config, logger: logger)
        let database = try HavenDatabase.open(
            path: config.databasePath, migrations: [CoreSchema.migrations],
            knownMigrations: Set(CoreSchema.migrations.identifiers).union(host.knownMigrations), logger: logger)
        let core: CoreModule
        do {
            core = try CoreModule(database: database, settings: config.core, clock: clock, daemonUID: getuid(), logger: logger)
        } catch {
            try? database.close()
            throw error
        }

        // 2. Plugins, then event delivery to them.
        let dispatcher: OutboxDispatcher
        let makeContext: @Sendable (any HavenPlugin) -> PluginContext = { plugin in
            var pluginLogger = logger
            pluginLogger[metadataKey: "plugin"] = "\(plugin.manifest.id)"
            return PluginContext(
                logger: pluginLogger, database: database, settings: config.pluginSettings[plugin.manifest.id] ?? (),
                configDirectory: config.configDirectory, core: core)
        }
        do {
            try await host.start(database: database, makeContext: makeContext)
            core.timelineContributors.set(host.timelineContributors.map { ($0.pluginID, $0.contributor) })
            dispatcher = OutboxDispatcher(
                database: database, signal: core.signal,
                subscribers: host.eventSubscriptions.map { .init(key: "\($0.pluginID)/\($0.subscription.name)", subscription: $0.subscription) },
                logger: logger)
            try await dispatcher.initializeCursors()
            if config.seedDemoData, try await DemoSeeder(core: core, logger: logger).seedIfEmpty() {
                for entry in host.snapshot where entry.activation != nil {
                    try await entry.plugin.seedDemoData(makeContext(entry.plugin))
                }
            }
        } catch {
            await host.stop()
            try? database.close()
            throw error
        }
        let delivery = Task { await dispatcher.run() }
        let nodeID = core.nodeID
        let identity: NodeIdentity
        do {
            identity = try NodeIdentity.loadOrCreate(in: config.dataDirectory, nodeID: nodeID)
        } catch {
            delivery.cancel()
            await host.stop()
            try? database.close()
            throw StartupError("\(error)")
        }
        core.nodeSync.configure {
            $0.fingerprint = identity.fingerprint
            $0.mode = config.mode.rawValue
            $0.interval = config.syncInterval
            $0.batchSize = config.syncBatchSize
            $0.connector = { host, port, fingerprint, metadata in
                let tls = try TLSClientSetup(identity: identity, serverFingerprint: fingerprint)
                return try await RPCClient.connect(host: host, port: port, metadata: metadata) { try tls.secure($0) }
            }
        }

        // 3. The listener.
        let catalog = DescribeCatalog()
        let daemonService = DaemonService(
            version: Self.version, mode: config.mode, nodeID: nodeID, startedAt: Date(), database: database,
            plugins: host, describe: { catalog.response })
        let services = [("core", daemonService.definition)] + core.services.map { ("core", $0) } + host.runningServices
        do {
            try catalog.build(services: services, descriptorSets: [HavenProtoDescriptors.fileDescriptorSetBase64]
                + host.snapshot.filter { $0.activation != nil }.compactMap(\.manifest.descriptorSetBase64))
        } catch {
            delivery.cancel()
            await host.stop()
            try? database.close()
            throw StartupError("the embedded protocol descriptors are unreadable: \(error)")
        }
        let router = ServiceRouter(
            services: services, unavailable: host.unavailableServices, resolver: core.resolver, logger: logger)
        let server = RPCServer(
            dispatcher: router, limits: config.limits, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        do {
            let group = try config.socketGroup.map(UnixSocketPath.groupID(named:))
            try UnixSocketPath.prepare(config.socketPath, group: group, logger: logger)
            try await server.start(socketPath: config.socketPath, socketGroup: group)
            if let listen = config.remoteListen {
                let tls = try TLSServerSetup(identity: identity)
                let registry = core.nodeSync.registry
                let port = try await server.startRemote(host: listen.host, port: listen.port) { channel, certificate in
                    try tls.secure(channel, certificate: certificate, refuse: registry.handshakeRefusal)
                }
                core.nodeSync.configure { $0.remoteListen = "\(listen.host):\(port)" }
            }
        } catch {
            await server.shutdownGracefully()
            delivery.cancel()
            await host.stop()
            try? database.close()
            throw error
        }
        await core.syncAgent.startIfLinked()
        logger.notice("havend is ready", metadata: ["socket": "\(config.socketPath)", "node": "\(nodeID)"])
        return RunningDaemon(
            server: server, host: host, core: core, database: database, delivery: delivery, socketPath: config.socketPath,
            nodeID: nodeID, logger: logger)
    }

    private func createDataDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StartupError("could not create the data directory \(path): \(error.localizedDescription)")
        }
    }
}

/// A started daemon.
public struct RunningDaemon: Sendable {
    public let server: RPCServer
    public let host: PluginHost
    public let core: CoreModule
    public let database: HavenDatabase
    let delivery: Task<Void, Never>
    public let socketPath: String
    public let nodeID: String
    let logger: Logger

    /// Stops accepting, drains calls, stops plugins, closes the database and
    /// removes the socket.
    public func stop() async {
        logger.notice("havend is shutting down")
        // Calls still being drained may wait on the writer; a writer waiting
        // at the WAL's ceiling must not hold them, or the stop, back.
        database.writer.stopWaiting()
        await core.syncAgent.stop()
        await server.shutdownGracefully()
        delivery.cancel()
        await delivery.value
        await host.stop()
        do {
            try database.close()
        } catch {
            logger.error("closing the database failed", metadata: ["error": "\(error)"])
        }
        unlink(socketPath)
        logger.notice("havend stopped")
    }
}
