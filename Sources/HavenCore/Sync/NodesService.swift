import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

/// haven.v1.Nodes: this daemon's identity, and (on a server) enrolment of
/// desktop daemons: a node registers over TLS with its certificate and its
/// owner's token, an admin approves it, and revoking it refuses it from the
/// next handshake on.
struct NodesService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Nodes", methods: [
            .unary("Identity", Haven_V1_NodeIdentityRequest.self, Haven_V1_NodeIdentityResponse.self, access: .anyone) { _, _ in
                let setup = core.nodeSync.setup
                return .with {
                    $0.nodeID = core.nodeID
                    $0.fingerprint = setup.fingerprint
                    $0.mode = setup.mode
                    $0.remoteListen = setup.remoteListen
                    $0.syncTables = core.syncRegistry.tables(core: core).map(\.name)
                }
            },
            .unary("Register", Haven_V1_RegisterNodeRequest.self, Haven_V1_RegisterNodeResponse.self, access: .staff, register),
            .unary("List", Haven_V1_ListNodesRequest.self, Haven_V1_ListNodesResponse.self, access: .roles([.admin])) { _, context in
                try await core.perform(context) { db in
                    let ids = try String.fetchAll(db, sql: "SELECT id FROM nodes ORDER BY requested_at")
                    return .with { $0.nodes = ids.compactMap { try? NodeRegistry.info(db, id: $0) } }
                }
            },
            .unary("Approve", Haven_V1_DecideNodeRequest.self, Haven_V1_NodeInfo.self, access: .roles([.admin])) { request, context in
                try await decide(request, context, to: "approved")
            },
            .unary("Revoke", Haven_V1_DecideNodeRequest.self, Haven_V1_NodeInfo.self, access: .roles([.admin])) { request, context in
                guard !request.reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw RPCError.invalidArgument("reason: say why the node is revoked (lost, stolen, replaced, left the school)")
                }
                return try await decide(request, context, to: "revoked")
            },
        ])
    }

    @Sendable func register(_ request: Haven_V1_RegisterNodeRequest, _ context: CallContext) async throws -> Haven_V1_RegisterNodeResponse {
        guard context.call.isRemote, let fingerprint = context.call.certificateFingerprint else {
            throw RPCError.failedPrecondition("a node registers over TCP+TLS, presenting its node certificate (haven node enroll does this)")
        }
        guard context.caller.authMethod == .token else {
            throw RPCError.unauthenticated("registering a node needs its owner's token (haven token create on the server)")
        }
        guard request.nodeID.hasPrefix("node-"), request.nodeID.count <= 64 else { throw RPCError.invalidArgument("node_id: not a node id") }
        guard request.nodeID != core.nodeID else { throw RPCError.invalidArgument("node_id: that is this server's own id") }
        let name = request.name.trimmed
        guard !name.isEmpty, name.count <= 200 else { throw RPCError.invalidArgument("name: say which device this is (at most 200 characters)") }
        let owner = context.caller.staffID!
        let now = StoredTime.ms(core.clock.now())
        return try await core.perform(context) { db in
            if let existing = try Row.fetchOne(db, sql: "SELECT id, fingerprint, owner_staff_id, status FROM nodes WHERE id = ? OR fingerprint = ?",
                                               arguments: [request.nodeID, fingerprint]) {
                guard (existing["id"] as String) == request.nodeID, (existing["fingerprint"] as String) == fingerprint,
                      (existing["owner_staff_id"] as String) == owner else {
                    throw RPCError.alreadyExists("node \(existing["id"] as String) is already enrolled with another certificate or owner; an admin must revoke it first")
                }
                guard (existing["status"] as String) != "revoked" else {
                    throw RPCError.permissionDenied("this node's enrolment was revoked; it cannot enrol again with the same identity")
                }
            } else {
                try db.execute(sql: """
                    INSERT INTO nodes (id, name, fingerprint, owner_staff_id, status, requested_at) VALUES (?, ?, ?, ?, 'pending', ?)
                    """, arguments: [request.nodeID, name, fingerprint, owner, now])
                try core.audit(AuditRecord(action: "node.register", recordIDs: [request.nodeID, owner], purpose: "\(name), \(fingerprint)"),
                               context: context, db: db)
            }
            let staff = try StaffStore.record(db, id: owner)!
            return .with {
                $0.node = try! NodeRegistry.info(db, id: request.nodeID)!
                $0.serverNodeID = core.nodeID
                $0.owner = .with {
                    $0.id = staff.id
                    $0.displayName = staff.displayName
                    $0.roles = staff.roles.sorted().map(\.rawValue)
                }
            }
        }
    }

    private func decide(_ request: Haven_V1_DecideNodeRequest, _ context: CallContext, to status: String) async throws -> Haven_V1_NodeInfo {
        let now = StoredTime.ms(core.clock.now())
        let info = try await core.perform(context) { db -> Haven_V1_NodeInfo in
            guard let current = try String.fetchOne(db, sql: "SELECT status FROM nodes WHERE id = ?", arguments: [request.nodeID]) else {
                throw RPCError.notFound("there is no node \(request.nodeID); `haven node list` shows the enrolled ones")
            }
            if current == "revoked" { throw RPCError.failedPrecondition("node \(request.nodeID) is revoked; a revoked node cannot be approved again") }
            if current == status { throw RPCError.failedPrecondition("node \(request.nodeID) is already \(status)") }
            try db.execute(sql: "UPDATE nodes SET status = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ?",
                           arguments: [status, context.caller.staffID!, now, request.reason, request.nodeID])
            try core.audit(AuditRecord(action: status == "approved" ? "node.approve" : "node.revoke", recordIDs: [request.nodeID],
                                       purpose: request.reason), context: context, db: db)
            return try NodeRegistry.info(db, id: request.nodeID)!
        }
        if status == "revoked" { core.nodeSync.registry.noteRevoked(info.fingerprint) }
        return info
    }
}
