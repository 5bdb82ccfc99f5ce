import NIOCore

/// Per-connection limits. Defaults suit a school server; tests shrink them.
public struct ServerLimits: Sendable {
    /// Largest frame data accepted (ttrpc: 4 MiB).
    public var maxFrameDataLength: Int
    /// Calls in flight on one connection before new ones get RESOURCE_EXHAUSTED.
    public var maxConcurrentCallsPerConnection: Int
    /// Connections held at once; the next one's first call gets RESOURCE_EXHAUSTED.
    public var maxConnections: Int
    /// Of those, how many may come over TCP, so remote clients cannot crowd
    /// out local staff on the Unix socket.
    public var maxRemoteConnections: Int
    /// A connection with no call in flight and no traffic for this long is closed.
    public var idleTimeout: Duration
    /// A frame started but not finished within this long closes the connection.
    public var partialFrameTimeout: Duration
    /// On shutdown, how long unary calls in flight may take to finish.
    public var shutdownGracePeriod: Duration

    public init(
        maxFrameDataLength: Int = 4 << 20,
        maxConcurrentCallsPerConnection: Int = 128,
        maxConnections: Int = 4096,
        maxRemoteConnections: Int = 256,
        idleTimeout: Duration = .seconds(300),
        partialFrameTimeout: Duration = .seconds(10),
        shutdownGracePeriod: Duration = .seconds(10)
    ) {
        self.maxFrameDataLength = maxFrameDataLength
        self.maxConcurrentCallsPerConnection = maxConcurrentCallsPerConnection
        self.maxConnections = maxConnections
        self.maxRemoteConnections = maxRemoteConnections
        self.idleTimeout = idleTimeout
        self.partialFrameTimeout = partialFrameTimeout
        self.shutdownGracePeriod = shutdownGracePeriod
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

