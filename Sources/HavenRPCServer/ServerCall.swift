import HavenProto
import HavenWire

/// The ttrpc call metadata: ordered key/value pairs, keys compared
/// case-insensitively (as gRPC and ttrpc clients write them in lower case).
public struct Metadata: Sendable, Equatable {
    public var entries: [(key: String, value: String)]

    public init(_ entries: [(key: String, value: String)] = []) {
        self.entries = entries
    }

    public init(_ keyValues: [Ttrpc_KeyValue]) {
        self.entries = keyValues.map { ($0.key, $0.value) }
    }

    public subscript(key: String) -> String? {
        let lowered = key.lowercased()
        return entries.first { $0.key.lowercased() == lowered }?.value
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }
}

/// One incoming call, as the transport received it. Identity beyond the peer
/// credentials (staff account, roles) is resolved by the dispatcher.
public struct ServerCall: Sendable {
    public let streamID: UInt32
    public let service: String
    public let method: String
    public let payload: [UInt8]
    public let metadata: Metadata
    /// The Unix-socket peer, or nil for a transport without one.
    public let peer: PeerCredentials?
    /// For a TLS connection, the fingerprint of the certificate the client
    /// presented ("sha256:<hex>"), or nil when it presented none.
    public let certificateFingerprint: String?
    /// Whether the call came over TCP+TLS rather than the Unix socket.
    public let isRemote: Bool
    /// A number unique to the connection within this daemon's lifetime, for logs.
    public let connectionID: UInt64
    /// When the caller stops waiting, if it said (`timeout_nano`).
    public let deadline: ContinuousClock.Instant?

    public init(
        streamID: UInt32, service: String, method: String, payload: [UInt8], metadata: Metadata,
        peer: PeerCredentials?, connectionID: UInt64, deadline: ContinuousClock.Instant?,
        certificateFingerprint: String? = nil, isRemote: Bool = false
    ) {
        self.certificateFingerprint = certificateFingerprint
        self.isRemote = isRemote
        self.streamID = streamID
        self.service = service
        self.method = method
        self.payload = payload
        self.metadata = metadata
        self.peer = peer
        self.connectionID = connectionID
        self.deadline = deadline
    }

    /// "haven.v1.Daemon/Hello"
    public var fullMethod: String { "\(service)/\(method)" }
}
