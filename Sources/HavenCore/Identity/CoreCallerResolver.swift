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
        if let authorization = call.metadata["authorization"] {
            let secret = authorization.hasPrefix("Bearer ") ? String(authorization.dropFirst(7)) : authorization
            let hash = TokenSecret.hash(secret)
            let staffID = try await core.database.pool.read { db in
                try String.fetchOne(db, sql: """
                    SELECT staff_id FROM tokens WHERE secret_hash = ? AND revoked_at IS NULL AND expires_at > ?
                    """, arguments: [hash, now])
            }
            guard let staffID else {
                throw RPCError.unauthenticated("the token is not valid: it is unknown, expired or revoked; create a new one with `haven token create`")
            }
            return try await caller(staffID: staffID, peer: call.peer, method: .token)
        }
        guard let peer = call.peer else { return Caller(peer: nil, authMethod: .none) }
        if let staffID = try await core.database.pool.read({ db in try StaffStore.staffID(forUID: peer.uid, db) }) {
            return try await caller(staffID: staffID, peer: peer, method: .peerCredentials)
        }
        if core.localAdminUIDs.contains(peer.uid) {
            var caller = try await caller(staffID: core.localAdminStaffID, peer: peer, method: .peerCredentials)
            caller.displayName = "Local administrator (uid \(peer.uid))"
            return caller
        }
        return Caller(peer: peer, authMethod: .peerCredentials,
                      accountNote: "uid \(peer.uid) is not linked to a staff account; an administrator can link it with `haven staff link`")
    }

    private func caller(staffID: String, peer: PeerCredentials?, method: Caller.AuthMethod) async throws -> Caller {
        let record = try await core.database.pool.read { db in try StaffStore.record(db, id: staffID) }
        guard let record, record.active else {
            return Caller(peer: peer, authMethod: method,
                          accountNote: "the staff account \(record?.displayName ?? staffID) is deactivated; ask an administrator")
        }
        return Caller(peer: peer, authMethod: method, staffID: record.id, displayName: record.displayName, roles: record.roles)
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
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
