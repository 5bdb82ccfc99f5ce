import Foundation
import GRDB
import HavenLocking
import HavenProto
import HavenStorage

/// A server's record of the nodes enrolled with it. The database is the
/// truth; the revoked fingerprints are also kept in memory so the TLS
/// handshake, which cannot wait for a query, refuses a revoked node at once.
public final class NodeRegistry: Sendable {
    public struct Node: Sendable {
        public var id: String
        public var ownerStaffID: String
        public var status: String
    }

    private let revoked = Locked<Set<String>>([])

    init() {}

    /// Loads the revoked fingerprints; called once the database is open.
    func load(_ db: Database) throws {
        let fingerprints = try String.fetchAll(db, sql: "SELECT fingerprint FROM nodes WHERE status = 'revoked'")
        revoked.withLock { $0 = Set(fingerprints) }
    }

    /// Why a TLS client with this certificate is refused, or nil to let it in.
    public func handshakeRefusal(fingerprint: String) -> String? {
        revoked.withLock { $0.contains(fingerprint) } ? "this node's enrolment was revoked" : nil
    }

    func noteRevoked(_ fingerprint: String) {
        _ = revoked.withLock { $0.insert(fingerprint) }
    }

    static func node(fingerprint: String, _ db: Database) throws -> Node? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT id, owner_staff_id, status FROM nodes WHERE fingerprint = ?"),
                         arguments: [fingerprint]).map { Node(id: $0["id"], ownerStaffID: $0["owner_staff_id"], status: $0["status"]) }
    }

    static func info(_ db: Database, id: String) throws -> Haven_V1_NodeInfo? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT n.*, s.display_name AS owner_name FROM nodes n LEFT JOIN staff s ON s.id = n.owner_staff_id WHERE n.id = ?
            """), arguments: [id]) else { return nil }
        return .with {
            $0.nodeID = row["id"]
            $0.name = row["name"]
            $0.fingerprint = row["fingerprint"]
            $0.ownerStaffID = row["owner_staff_id"]
            $0.ownerName = row["owner_name"] ?? ""
            $0.status = row["status"]
            $0.requestedAt = .init(ms: row["requested_at"])
            if let decided: Int64 = row["decided_at"] { $0.decidedAt = .init(ms: decided) }
            $0.decidedBy = row["decided_by"]
            if let last: Int64 = row["last_sync_at"] { $0.lastSyncAt = .init(ms: last) }
            $0.auditHeadSeq = row["audit_head_seq"]
            $0.auditHeadHash = row["audit_head_hash"]
            $0.reason = row["reason"]
        }
    }
}
