#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import HavenLocking

/// A ttrpc server on a Unix-domain socket. It accepts connections, reads each
/// peer's credentials, and hands frames to a `ServerConnectionHandler`.
public final class RPCServer: Sendable {
    private struct State {
        var listener: Channel?
        var connections: [UInt64: Channel] = [:]
        var nextConnectionID: UInt64 = 1
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
    public func start(socketPath: String, socketGroup: gid_t?) async throws {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                PeerCredentials.read(from: channel).flatMapThrowing { peer in
                    guard let id = self.register(channel) else {
                        self.logger.warning("refusing a connection: at the limit", metadata: ["max_connections": "\(self.limits.maxConnections)"])
                        try channel.pipeline.syncOperations.addHandler(ConnectionRefuser(
                            message: "havend is holding its maximum of \(self.limits.maxConnections) connections ([limits] max_connections); try again shortly",
                            timeout: self.limits.partialFrameTimeout.timeAmount))
                        return
                    }
                    let handler = ServerConnectionHandler(
                        dispatcher: self.dispatcher, limits: self.limits, peer: peer, connectionID: id, logger: self.logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: false)
            .get()
        do {
            try UnixSocketPath.applyPermissions(socketPath, group: socketGroup)
        } catch {
            try? await listener.close()
            throw error
        }
        state.withLock { $0.listener = listener }
        logger.info("listening", metadata: ["socket": "\(socketPath)"])
    }

    /// How many connections are open now.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Records a new connection; nil when the daemon already holds its maximum.
    private func register(_ channel: Channel) -> UInt64? {
        let id = state.withLock { state -> UInt64? in
            guard state.connections.count < limits.maxConnections else { return nil }
            let id = state.nextConnectionID
            state.nextConnectionID += 1
            state.connections[id] = channel
            return id
        }
        guard let id else { return nil }
        channel.closeFuture.whenComplete { [self] _ in
            _ = self.state.withLock { $0.connections.removeValue(forKey: id) }
        }
        return id
    }

    /// Stops accepting, lets unary calls in flight finish (up to the grace
    /// period), ends streams, then closes every connection.
    public func shutdownGracefully() async {
        let (listener, connections) = state.withLock { state in
            let result = (state.listener, Array(state.connections.values))
            state.listener = nil
            return result
        }
        try? await listener?.close()
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
