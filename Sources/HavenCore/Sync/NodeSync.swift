import HavenLocking
import HavenRPCClient

/// Opens a TLS connection to another node, pinned to its certificate
/// fingerprint. The daemon supplies it (the core has no TLS of its own).
public typealias NodeConnector = @Sendable (
    _ host: String, _ port: Int, _ fingerprint: String, _ metadata: [(key: String, value: String)]
) async throws -> RPCClient

/// Everything about this daemon as a node: its identity as others pin it,
/// its TCP listener, the nodes enrolled with it (a server), and its link to
/// a school server (a desktop).
public final class NodeSync: Sendable {
    public struct Setup: Sendable {
        public var fingerprint = ""
        public var remoteListen = ""
        public var mode = "desktop"
        public var connector: NodeConnector?
        public var interval: Duration = .seconds(30)
        public var batchSize = 500

        public init() {}
    }

    public let registry = NodeRegistry()
    private let state = Locked(Setup())

    init() {}

    public func configure(_ body: (inout Setup) -> Void) {
        state.withLock { body(&$0) }
    }

    var setup: Setup { state.withLock { $0 } }
}
