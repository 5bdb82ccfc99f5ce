import HavenRPCServer

/// The roles a staff account can hold.
public enum Role: String, Sendable, CaseIterable, Hashable, Comparable {
    case admin
    case administrator
    case counselor
    case socialWorker = "social_worker"
    case psychologist
    case nurse
    case teacher
    case sro
    case analyst
    case integration

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Who is making a call, as the daemon resolved it.
public struct Caller: Sendable, Equatable {
    public enum AuthMethod: String, Sendable {
        case peerCredentials = "peer_credentials"
        case token
        /// An enrolled node's TLS certificate: the node acts for its owner,
        /// and only on the methods meant for nodes (`MethodAccess.node`).
        case certificate
        case none
    }

    public var peer: PeerCredentials?
    public var authMethod: AuthMethod
    /// The staff account, when the caller is linked to one.
    public var staffID: String?
    public var displayName: String?
    public var roles: Set<Role>
    /// Why the caller has no staff identity (not linked, deactivated), for messages.
    public var accountNote: String?
    /// The deactivated staff account a token or uid still names: it grants
    /// nothing, but the audit log says whose it was.
    public var inactiveStaffID: String?
    /// The approved node making the call, when it authenticated by certificate.
    public var nodeID: String?

    public init(
        peer: PeerCredentials?, authMethod: AuthMethod, staffID: String? = nil, displayName: String? = nil,
        roles: Set<Role> = [], accountNote: String? = nil, inactiveStaffID: String? = nil, nodeID: String? = nil
    ) {
        self.nodeID = nodeID
        self.peer = peer
        self.authMethod = authMethod
        self.staffID = staffID
        self.displayName = displayName
        self.roles = roles
        self.accountNote = accountNote
        self.inactiveStaffID = inactiveStaffID
    }

    public func has(_ role: Role) -> Bool { roles.contains(role) }
    public func hasAny(_ roles: Set<Role>) -> Bool { !self.roles.isDisjoint(with: roles) }
}

/// The coarse gate on a method: who may call it at all. Finer decisions
/// (caseload, grants, assignments) are made inside the handler.
public enum MethodAccess: Sendable, Equatable {
    /// Anyone who can open the socket (Hello, Health).
    case anyone
    /// Any caller linked to an active staff account.
    case staff
    /// Staff holding at least one of these roles.
    case roles(Set<Role>)
    /// An approved node, by its certificate (sync between daemons).
    case node

    /// In words, for Describe and the docs.
    public var summary: String {
        switch self {
        case .anyone: "anyone who can connect"
        case .staff: "any staff member"
        case .roles(let roles): roles.sorted().map(\.rawValue).joined(separator: ", ")
        case .node: "an approved node"
        }
    }

    public func allows(_ caller: Caller) -> Bool {
        switch self {
        case .anyone: true
        // A node's certificate speaks for its owner only on node methods.
        case .staff: caller.staffID != nil && caller.nodeID == nil
        case .roles(let roles): caller.staffID != nil && caller.nodeID == nil && caller.hasAny(roles)
        case .node: caller.staffID != nil && caller.nodeID != nil
        }
    }
}
