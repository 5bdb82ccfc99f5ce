#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import HavenLocking

/// A ttrpc server on a Unix-domain socket and, when configured, on TCP with
/// TLS. It accepts connections, learns who is on the other end (the Unix
/// peer's credentials, or the certificate a TLS client presented), and hands
/// frames to a `ServerConnectionHandler`. Both listeners share one dispatcher,
/// one set of limits and one connection count.
public final class RPCServer: Sendable {
    private struct State {
        var listeners: [Channel] = []
        var connections: [UInt64: Channel] = [:]
        var remote: Set<UInt64> = []
        var nextConnectionID: UInt64 = 1
        /// Local and remote refusals are counted apart: their limits differ.
        var localRefusals = RefusalLog()
        var remoteRefusals = RefusalLog()
    }

    private let dispatcher: any RPCDispatcher
    private let limits: ServerLimits
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = Locked(State())

    public init(dispatcher: any RPCDispatcher, limits: ServerLimits = ServerLimits(), group: any EventLoopGroup, logger: Logger) {
        self.dispatcher = dispatcher
        self.limits = limits
        self.group = group
        self.logger = logger
    }

    /// Binds the socket (already prepared with `UnixSocketPath.prepare`) and
    /// starts accepting.
    ///
    /// The socket is bound under a name beside it, given its mode and group,
    /// and only then linked at `socketPath`: a client never finds it there
    /// with the mode the umask gave it (too strict for the socket group), so
    /// once it is there, the group can connect. A daemon already listening
    /// at either name makes this one stop, as a bind in place did.
    public func start(socketPath: String, socketGroup: gid_t?) async throws {
        let staging = try UnixSocketPath.removeStaleStaging(for: socketPath)
        let listener = try await unixSocketBootstrap().bind(unixDomainSocketPath: staging, cleanupExistingSocketFile: false).get()
        do {
            try UnixSocketPath.applyPermissions(staging, group: socketGroup)
            try UnixSocketPath.moveIntoPlace(staging, socketPath)
        } catch {
            try? await listener.close()
            unlink(staging)
            throw error
        }
        state.withLock { $0.listeners.append(listener) }
        logger.info("listening", metadata: ["socket": "\(socketPath)"])
    }

    /// Connections on the Unix socket: the peer's credentials, then ttrpc.
    private func unixSocketBootstrap() -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                PeerCredentials.read(from: channel).flatMapThrowing { peer in
                    try self.serve(channel, peer: peer, certificate: nil)
                }
            }
    }

    /// Listens on TCP at `host`:`port` (0 picks a free port) and returns the
    /// port bound. `secure` puts TLS in front of each accepted connection and
    /// records the certificate the client presents; nothing reaches the ttrpc
    /// handler before the handshake is done.
    @discardableResult
    public func startRemote(
        host: String, port: Int, secure: @escaping @Sendable (Channel, PresentedCertificate) throws -> Void
    ) async throws -> Int {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let certificate = PresentedCertificate()
                    try secure(channel, certificate)
                    try self.serve(channel, peer: nil, certificate: certificate)
                }
            }
            .bind(host: host, port: port)
            .get()
        state.withLock { $0.listeners.append(listener) }
        let bound = listener.localAddress?.port ?? port
        logger.info("listening", metadata: ["tcp": "\(host):\(bound)", "tls": "required"])
        return bound
    }

    /// Adds the connection's ttrpc handler, or a refuser when the daemon
    /// already holds its maximum of connections.
    private func serve(_ channel: Channel, peer: PeerCredentials?, certificate: PresentedCertificate?) throws {
        guard let id = register(channel, remote: certificate != nil) else {
            let (limit, setting) = certificate != nil
                ? (limits.maxRemoteConnections, "[remote] max_connections") : (limits.maxConnections, "[limits] max_connections")
            let now = ContinuousClock.now
            let (log, count, since) = state.withLock {
                certificate != nil ? $0.remoteRefusals.refused(at: now) : $0.localRefusals.refused(at: now)
            }
            if log {
                // At most one line per interval while refusals go on (RefusalLog).
                var metadata: Logger.Metadata = ["limit": "\(limit)", "setting": "\(setting)", "refused_since_last_line": "\(count)"]
                if let since { metadata["last_line_seconds_ago"] = "\(since.components.seconds)" }
                logger.warning("refusing connections: at the limit", metadata: metadata)
            }
            try channel.pipeline.syncOperations.addHandler(ConnectionRefuser(
                message: "havend is holding its maximum of \(limit) connections (\(setting)); try again shortly",
                timeout: limits.partialFrameTimeout.timeAmount))
            return
        }
        let handler = ServerConnectionHandler(
            dispatcher: dispatcher, limits: limits, peer: peer, certificate: certificate, connectionID: id, logger: logger)
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    /// How many connections are open now.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Records a new connection; nil when the daemon already holds its maximum.
    private func register(_ channel: Channel, remote: Bool) -> UInt64? {
        let id = state.withLock { state -> UInt64? in
            guard state.connections.count < limits.maxConnections else { return nil }
            if remote, state.remote.count >= limits.maxRemoteConnections { return nil }
            let id = state.nextConnectionID
            state.nextConnectionID += 1
            state.connections[id] = channel
            if remote { state.remote.insert(id) }
            return id
        }
        guard let id else { return nil }
        channel.closeFuture.whenComplete { [self] _ in
            self.state.withLock { state in
                state.connections.removeValue(forKey: id)
                state.remote.remove(id)
            }
        }
        return id
    }

    /// Stops accepting, lets unary calls in flight finish (up to the grace
    /// period), ends streams, then closes every connection.
    public func shutdownGracefully() async {
        let (listeners, connections) = state.withLock { state in
            let result = (state.listeners, Array(state.connections.values))
            state.listeners = []
            return result
        }
        for listener in listeners { try? await listener.close() }
        for connection in connections {
            connection.pipeline.fireUserInboundEventTriggered(DrainConnectionEvent())
        }
        let deadline = ContinuousClock.now.advanced(by: limits.shutdownGracePeriod)
        while ContinuousClock.now < deadline, connectionCount > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let remaining = state.withLock { Array($0.connections.values) }
        if !remaining.isEmpty {
            logger.warning("closing connections whose calls did not finish within the grace period",
                           metadata: ["connections": "\(remaining.count)"])
        }
        for connection in remaining {
            try? await connection.close()
        }
    }
}
