import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenRPCServer
import HavenStorage
import HavenWire

/// haven.v1.Sync: on a desktop, enrolment and sync on demand; on a server,
/// Push and Pull for approved nodes.
struct SyncService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Sync", methods: [
            .unary("Enroll", Haven_V1_EnrollRequest.self, Haven_V1_EnrollResponse.self, access: .roles([.admin]), enroll),
            .unary("Status", Haven_V1_SyncStatusRequest.self, Haven_V1_SyncStatusResponse.self, access: .staff) { _, _ in
                try await status()
            },
            .unary("Now", Haven_V1_SyncNowRequest.self, Haven_V1_SyncNowResponse.self, access: .staff) { _, _ in
                let outcome: SyncAgent.Outcome
                do {
                    outcome = try await core.syncAgent.cycle()
                } catch let error as RPCError {
                    throw error
                } catch {
                    throw RPCError.unavailable("could not reach the school server: \(error)")
                }
                let status = try await status()
                return .with {
                    $0.pushed = Int64(outcome.pushed)
                    $0.pulled = Int64(outcome.pulled)
                    $0.conflicts = Int64(outcome.conflicts)
                    $0.status = status
                }
            },
            .unary("Push", Haven_V1_PushRequest.self, Haven_V1_PushResponse.self, access: .node) { request, context in
                try await SyncServer(core: core).push(request, context: context)
            },
            .unary("Pull", Haven_V1_PullRequest.self, Haven_V1_PullResponse.self, access: .node) { request, context in
                try await SyncServer(core: core).pull(request, context: context)
            },
        ])
    }

    private func status() async throws -> Haven_V1_SyncStatusResponse {
        try await core.database.pool.read { [core] db in
            var response = Haven_V1_SyncStatusResponse()
            response.nodeID = core.nodeID
            guard let link = try SyncLink.read(db) else { return response }
            response.linked = true
            response.server = link.server
            response.serverFingerprint = link.fingerprint
            response.ownerStaffID = link.ownerStaffID
            if let at = link.lastSuccessAt { response.lastSuccessAt = .init(ms: at) }
            if let at = link.lastAttemptAt { response.lastAttemptAt = .init(ms: at) }
            response.lastError = link.lastError
            response.pendingPush = try SyncLink.pendingPush(db, link: link, node: core.nodeID, tables: core.syncRegistry.tables(core: core))
            response.pendingPull = link.pendingPull
            response.conflicts = try Row.fetchAll(db, sql: "SELECT * FROM sync_conflicts ORDER BY detected_at").map(SyncConflicts.message)
            response.rejected = try Row.fetchAll(db, sql: "SELECT table_name, key, reason FROM sync_rejected ORDER BY at").map { row in
                .with { $0.table = row["table_name"]; $0.key = row["key"]; $0.reason = row["reason"] }
            }
            return response
        }
    }

    @Sendable func enroll(_ request: Haven_V1_EnrollRequest, _ context: CallContext) async throws -> Haven_V1_EnrollResponse {
        let setup = core.nodeSync.setup
        guard setup.mode == "desktop" else { throw RPCError.failedPrecondition("only a desktop daemon enrols with a school server; this one runs in \(setup.mode) mode") }
        guard let connector = setup.connector else { throw RPCError.unavailable("this daemon cannot open TLS connections") }
        guard let server = TCPAddress(request.server) else {
            throw RPCError.invalidArgument("server: give the school server as host:port (got \"\(request.server)\")")
        }
        let (host, port) = (server.host, server.port)
        guard let fingerprint = PresentedCertificate.normalizedFingerprint(request.serverFingerprint) else {
            throw RPCError.invalidArgument("server_fingerprint: expected sha256:<64 hex digits>, as `haven node identity` prints on the server")
        }
        guard !request.token.isEmpty else { throw RPCError.invalidArgument("token: the owner's token from the server (haven token create) is needed once") }
        if let link = try await core.database.pool.read(SyncLink.read) {
            throw RPCError.alreadyExists("this desktop is already linked to \(link.server); it syncs as \(link.ownerStaffID)")
        }
        let name = request.name.isEmpty ? (ProcessInfo.processInfo.hostName) : request.name
        let registered: Haven_V1_RegisterNodeResponse
        do {
            let client = try await connector(host, port, fingerprint, [(key: "authorization", value: "Bearer \(request.token)")])
            defer { Task { await client.close() } }
            registered = try await client.unary("haven.v1.Nodes", "Register", Haven_V1_RegisterNodeRequest.with {
                $0.nodeID = core.nodeID
                $0.name = name
            }, as: Haven_V1_RegisterNodeResponse.self, timeout: .seconds(30))
        } catch let error as RPCError {
            throw RPCError(error.code, "the school server refused: \(error.message)")
        } catch {
            throw RPCError.unavailable("could not reach the school server at \(request.server): \(error)")
        }
        let now = StoredTime.ms(core.clock.now())
        let owner = registered.owner
        try await core.perform(context) { db in
            try db.execute(sql: """
                INSERT INTO sync_link (singleton, server_host, server_port, server_fingerprint, server_node_id, owner_staff_id, enrolled_at)
                VALUES (1, ?, ?, ?, ?, ?, ?)
                """, arguments: [host, port, fingerprint, registered.serverNodeID, owner.id, now])
            // The owner's account, until the first pull brings the server's
            // version (updated_at 0 loses to any real one).
            try db.execute(sql: """
                INSERT INTO staff (id, display_name, email, active, origin_node, created_at, updated_at) VALUES (?, ?, '', 1, ?, ?, 0)
                ON CONFLICT(id) DO NOTHING
                """, arguments: [owner.id, owner.displayName, registered.serverNodeID, now])
            try StaffStore.setRoles(db, staffID: owner.id, roles: Set(owner.roles.compactMap(Role.init(rawValue:))))
            // Whoever enrolled the desktop from their own account is its owner here.
            if let peer = context.call.peer {
                try db.execute(sql: "INSERT OR REPLACE INTO staff_uids (uid, staff_id) VALUES (?, ?)", arguments: [Int64(peer.uid), owner.id])
            }
            try core.audit(AuditRecord(action: "sync.enroll", recordIDs: [registered.serverNodeID, owner.id],
                                       purpose: "linked to \(request.server) (\(fingerprint))"), context: context, db: db)
        }
        core.noteLinked(true)
        await core.syncAgent.startIfLinked()
        return .with {
            $0.node = registered.node
            $0.owner = owner
        }
    }
}
