import Crypto
import Foundation
import GRDB
import HavenPluginAPI
import HavenRPCServer
import HavenStorage
import HavenWire

/// Turns a call's identity into a staff member:
/// - a token in the call's metadata (`authorization: Bearer hvn_...`), for
///   tools and remote users;
/// - else the uid from the socket's peer credentials, linked to a staff account;
/// - else, for root and the daemon's own uid, the built-in local administrator,
///   so a fresh install can be set up from the CLI.
/// Deactivated accounts resolve to no staff member, so access ends on the
/// next call.
public struct CoreCallerResolver: CallerResolver {
    let core: CoreModule

    public func resolve(_ call: ServerCall) async throws -> Caller {
        let now = StoredTime.ms(core.clock.now())
        if let tokenHash = Self.tokenHash(call) {
            let identity = try await cached(.token(hash: tokenHash), now: now) { db, key in
                guard case .token(let hash) = key,
                      let row = try Row.fetchOne(db.cachedStatement(sql: """
                        SELECT staff_id, expires_at FROM tokens WHERE secret_hash = ? AND revoked_at IS NULL AND expires_at > ?
                        """), arguments: [hash, now]) else {
                    return IdentityCache.Identity(roles: [], validUntil: now + 1000, unauthenticated: true)
                }
                var identity = try Self.identity(staffID: row["staff_id"], db: db)
                identity.validUntil = row["expires_at"]
                return identity
            }
            guard !identity.unauthenticated else {
                throw RPCError.unauthenticated("the token is not valid: it is unknown, expired or revoked; create a new one with `haven token create`")
            }
            return Self.caller(identity, peer: call.peer, method: .token)
        }
        if let fingerprint = call.certificateFingerprint {
            return try await nodeCaller(fingerprint: fingerprint)
        }
        guard let peer = call.peer else { return Caller(peer: nil, authMethod: .none) }
        let localAdmin = core.localAdminUIDs.contains(peer.uid) ? core.localAdminStaffID : nil
        let identity = try await cached(.uid(peer.uid), now: now) { db, _ in
            if let staffID = try StaffStore.staffID(forUID: peer.uid, db) {
                return try Self.identity(staffID: staffID, db: db)
            }
            if let localAdmin {
                var identity = try Self.identity(staffID: localAdmin, db: db)
                identity.displayName = "Local administrator (uid \(peer.uid))"
                return identity
            }
            return IdentityCache.Identity(
                roles: [], accountNote: "uid \(peer.uid) is not linked to a staff account; an administrator can link it with `haven staff link`")
        }
        return Self.caller(identity, peer: peer, method: .peerCredentials)
    }

    /// The caller from the identity cache alone; nil when it must be read
    /// (or refused: an unknown token, a node's certificate).
    public func cachedCaller(_ call: ServerCall) -> Caller? {
        let now = StoredTime.ms(core.clock.now())
        if let tokenHash = Self.tokenHash(call) {
            guard let identity = core.identities.lookup(.token(hash: tokenHash), now: now), !identity.unauthenticated else { return nil }
            return Self.caller(identity, peer: call.peer, method: .token)
        }
        guard call.certificateFingerprint == nil else { return nil }
        guard let peer = call.peer else { return Caller(peer: nil, authMethod: .none) }
        return core.identities.lookup(.uid(peer.uid), now: now).map { Self.caller($0, peer: peer, method: .peerCredentials) }
    }

    /// The hash of the token in the call's `authorization` metadata, if any.
    private static func tokenHash(_ call: ServerCall) -> String? {
        guard let authorization = call.metadata["authorization"] else { return nil }
        return TokenSecret.hash(authorization.hasPrefix("Bearer ") ? String(authorization.dropFirst(7)) : authorization)
    }

    /// An enrolled node, by the certificate it presented: approved, it acts
    /// for its owner on node methods only (`MethodAccess.node`); pending, it
    /// has no identity yet; revoked, it is refused.
    private func nodeCaller(fingerprint: String) async throws -> Caller {
        let found = try await core.database.pool.read { db -> (NodeRegistry.Node, IdentityCache.Identity)? in
            guard let node = try NodeRegistry.node(fingerprint: fingerprint, db) else { return nil }
            return (node, try Self.identity(staffID: node.ownerStaffID, db: db))
        }
        guard let (node, identity) = found else {
            return Caller(peer: nil, authMethod: .none, accountNote: "this certificate belongs to no enrolled node")
        }
        switch node.status {
        case "approved":
            guard let staffID = identity.staffID else {
                return Caller(peer: nil, authMethod: .certificate, accountNote: identity.accountNote, inactiveStaffID: identity.inactiveStaffID)
            }
            return Caller(peer: nil, authMethod: .certificate, staffID: staffID, displayName: identity.displayName, roles: identity.roles, nodeID: node.id)
        case "revoked":
            throw RPCError.unauthenticated("node \(node.id) was revoked by an administrator; it can no longer sync")
        default:
            return Caller(peer: nil, authMethod: .certificate,
                          accountNote: "node \(node.id) is waiting for an administrator to approve it (haven node approve \(node.id) on the server)")
        }
    }

    /// The cached identity for `key`, else read and remember it.
    private func cached(
        _ key: IdentityCache.Key, now: Int64, read: @escaping @Sendable (Database, IdentityCache.Key) throws -> IdentityCache.Identity
    ) async throws -> IdentityCache.Identity {
        if let hit = core.identities.lookup(key, now: now) { return hit }
        let generation = core.identities.currentGeneration
        let identity = try await core.database.pool.read { db in try read(db, key) }
        core.identities.store(identity, for: key, readAt: generation)
        return identity
    }

    private static func identity(staffID: String, db: Database) throws -> IdentityCache.Identity {
        guard let record = try StaffStore.record(db, id: staffID), record.active else {
            let name = try StaffStore.record(db, id: staffID)?.displayName ?? staffID
            return IdentityCache.Identity(displayName: name, roles: [], accountNote: "the staff account \(name) is deactivated; ask an administrator",
                                          inactiveStaffID: staffID)
        }
        return IdentityCache.Identity(staffID: record.id, displayName: record.displayName, roles: record.roles)
    }

    private static func caller(_ identity: IdentityCache.Identity, peer: PeerCredentials?, method: Caller.AuthMethod) -> Caller {
        guard let staffID = identity.staffID else {
            return Caller(peer: peer, authMethod: method, displayName: identity.displayName, accountNote: identity.accountNote,
                          inactiveStaffID: identity.inactiveStaffID)
        }
        return Caller(peer: peer, authMethod: method, staffID: staffID, displayName: identity.displayName, roles: identity.roles)
    }

    public func recordDenial(_ call: ServerCall, caller: Caller, reason: String) async {
        let context = CallContext(call: call, caller: caller, logger: core.logger)
        try? await core.database.writer.write { db in
            try core.audit(AuditRecord(action: "access.denied", outcome: "denied"), context: context, db: db)
        }
    }
}

/// Token secrets: random, shown once, stored only as a SHA-256 hash.
enum TokenSecret {
    static func make() -> String {
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        return "hvn_" + String((0..<40).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
    }

    static func hash(_ secret: String) -> String {
        Hex.encode(digest: SHA256.hash(data: Data(secret.utf8)))
    }
}
