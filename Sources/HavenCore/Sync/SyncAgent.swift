import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenRPCClient
import HavenStorage
import HavenWire
import Logging

/// A desktop's half of sync: push what was made here, pull what the owner
/// may see, on an interval and on demand. One cycle at a time; every step
/// is committed before the next, so a daemon killed mid-sync resumes where
/// it stopped and nothing is applied twice (Docs/sync.md, "Failure").
public actor SyncAgent {
    public struct Outcome: Sendable {
        var pushed = 0
        var pulled = 0
        /// Conflicts found in this cycle, by id: reported by the push, or
        /// arriving with the pull (the same conflict can be both).
        var conflictIDs = Set<String>()
        var conflicts: Int { conflictIDs.count }
    }

    unowned let core: CoreModule
    private var loop: Task<Void, Never>?

    init(core: CoreModule) {
        self.core = core
    }

    /// Starts syncing on the configured interval, if this daemon is linked.
    public func startIfLinked() async {
        guard loop == nil, (try? await core.database.pool.read(SyncLink.read)) != nil else { return }
        let interval = core.nodeSync.setup.interval
        loop = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                _ = try? await self.cycle()
                try? await Task.sleep(for: interval)
            }
        }
    }

    public func stop() async {
        loop?.cancel()
        loop = nil
    }

    /// The latest cycle asked for: each new one starts when it has ended,
    /// so cycles never overlap.
    private var latest: Task<Outcome, Error>?

    /// Runs one sync after any cycle already under way (the interval's and
    /// `haven sync now` can ask at the same moment). Chained, not polled: a
    /// caller spinning on a finished task could starve the actor.
    func cycle() async throws -> Outcome {
        let previous = latest
        let task = Task {
            _ = try? await previous?.value
            return try await self.runCycle()
        }
        latest = task
        return try await task.value
    }

    /// One sync: push, pull, then push what the pull itself wrote (its audit entries).
    private func runCycle() async throws -> Outcome {
        guard let link = try await core.database.pool.read(SyncLink.read) else {
            throw RPCError.failedPrecondition("this daemon is not linked to a school server; enrol it with `haven node enroll`")
        }
        guard let connector = core.nodeSync.setup.connector else { throw RPCError.unavailable("this daemon cannot open TLS connections") }
        let started = StoredTime.ms(core.clock.now())
        try await core.database.writer.write { db in
            try db.execute(sql: "UPDATE sync_link SET last_attempt_at = ?", arguments: [started])
        }
        do {
            let client = try await connector(link.host, link.port, link.fingerprint, [])
            defer { Task { await client.close() } }
            // The server says which tables it takes; rows of others wait here.
            let identity = try await client.unary("haven.v1.Nodes", "Identity", Haven_V1_NodeIdentityRequest(),
                                                  as: Haven_V1_NodeIdentityResponse.self, timeout: .seconds(30))
            let serverTables = Set(identity.syncTables)
            var outcome = Outcome()
            try await push(client, serverTables: serverTables, &outcome)
            try await pull(client, &outcome)
            if outcome.pulled > 0 { try await push(client, serverTables: serverTables, &outcome) }
            try await core.database.writer.write { db in
                try db.execute(sql: "UPDATE sync_link SET last_success_at = ?, last_error = ''", arguments: [StoredTime.ms(self.core.clock.now())])
            }
            core.logger.info("synced", metadata: ["pushed": "\(outcome.pushed)", "pulled": "\(outcome.pulled)", "conflicts": "\(outcome.conflicts)"])
            return outcome
        } catch {
            let message = (error as? RPCError).map { "\($0.code.name): \($0.message)" } ?? "\(error)"
            try? await core.database.writer.write { db in
                try db.execute(sql: "UPDATE sync_link SET last_error = ?", arguments: [message])
            }
            core.logger.notice("sync failed; will retry", metadata: ["error": "\(message)"])
            throw error
        }
    }

    // MARK: Push

    private struct PushBatch: Sendable {
        var request = Haven_V1_PushRequest()
        var lastAuditSeq: Int64?
        var isEmpty: Bool { request.rows.isEmpty && request.audit.isEmpty && request.acknowledged.isEmpty }
    }

    /// Sends, batch by batch, the owner's rows the server does not hold
    /// (`sync_pushed` says which it does), then the audit entries after the
    /// last one sent, with the acknowledgements still owed from earlier pulls.
    private func push(_ client: RPCClient, serverTables: Set<String>, _ outcome: inout Outcome) async throws {
        let node = core.nodeID
        let limit = core.nodeSync.setup.batchSize
        let tables = core.syncRegistry.tables(core: core).filter { $0.push != nil && serverTables.contains($0.name) }
        while true {
            let batch = try await core.database.pool.read { db -> PushBatch in
                let link = try SyncLink.read(db)!
                var batch = PushBatch()
                batch.request.acknowledged = try String.fetchAll(db, sql: "SELECT key FROM sync_acks WHERE kind = 'row'")
                var bytes = 0
                for table in tables {
                    let room = limit - batch.request.rows.count
                    guard room > 0, bytes < SyncRowCodec.maxBatchBytes else { break }
                    let sql = SyncLink.unpushedSQL(table, select: "\(table.columnNames.joined(separator: ", ")), \(table.keySQL) AS sync_key")
                        + " ORDER BY rowid LIMIT \(room)"
                    for row in try Row.fetchAll(db, sql: sql, arguments: namedArguments(sql, ["node": node, "owner": link.ownerStaffID])) {
                        let message = SyncRowCodec.encode(table, row)
                        let size = SyncRowCodec.size(message)
                        // A big row starts the next batch rather than overfill this one.
                        if !batch.request.rows.isEmpty, bytes + size > SyncRowCodec.maxBatchBytes {
                            bytes = SyncRowCodec.maxBatchBytes
                            break
                        }
                        bytes += size
                        batch.request.rows.append(message)
                    }
                }
                let audit = try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT \(limit)", arguments: [link.pushedAuditSeq])
                batch.request.audit = audit.map(Self.auditEntry)
                batch.lastAuditSeq = audit.last?["seq"]
                return batch
            }
            if batch.isEmpty { return }
            core.logger.debug("pushing", metadata: ["rows": "\(batch.request.rows.count)", "audit": "\(batch.request.audit.count)", "acks": "\(batch.request.acknowledged.count)"])
            let response = try await client.unary("haven.v1.Sync", "Push", batch.request, as: Haven_V1_PushResponse.self, timeout: .seconds(60))
            outcome.pushed += Int(response.accepted)
            outcome.conflictIDs.formUnion(response.conflicts.map(\.id))
            // The server has committed the batch; only now mark it sent. A
            // refused row is marked too (it is not sent again) and kept here,
            // with the reason, for `haven sync status`.
            let now = StoredTime.ms(core.clock.now())
            try await core.database.writer.write { db in
                for row in batch.request.rows {
                    try db.execute(sql: "INSERT OR IGNORE INTO sync_pushed (table_name, key) VALUES (?, ?)", arguments: [row.table, row.key])
                }
                for rejection in response.rejected {
                    try db.execute(sql: """
                        INSERT INTO sync_rejected (table_name, key, reason, at) VALUES (?, ?, ?, ?)
                        ON CONFLICT(table_name, key) DO UPDATE SET reason = excluded.reason, at = excluded.at
                        """, arguments: [rejection.table, rejection.key, rejection.reason, now])
                }
                for key in batch.request.acknowledged {
                    try db.execute(sql: "DELETE FROM sync_acks WHERE kind = 'row' AND key = ?", arguments: [key])
                }
                if let last = batch.lastAuditSeq { try db.execute(sql: "UPDATE sync_link SET pushed_audit_seq = ?", arguments: [last]) }
            }
            if batch.request.rows.isEmpty && batch.request.audit.isEmpty { return }
        }
    }

    private static func auditEntry(_ row: Row) -> Haven_V1_SyncAuditEntry {
        Haven_V1_SyncAuditEntry.with {
            $0.seq = row["seq"]; $0.id = row["id"]; $0.atMs = row["at"]; $0.actorID = row["actor_id"]
            $0.actorName = row["actor_name"]; $0.actorRoles = row["actor_roles"]; $0.action = row["action"]
            $0.studentID = row["student_id"]; $0.recordIds = row["record_ids"]; $0.fields = row["fields"]
            $0.purpose = row["purpose"]; $0.outcome = row["outcome"]; $0.method = row["method"]; $0.node = row["node"]
            $0.prevHash = row["prev_hash"]; $0.hash = row["hash"]
        }
    }

    // MARK: Pull

    /// Rows pulled onto a desktop: nothing to decide there; the server did.
    private static let desktopReceipt = SyncReceipt(
        onServer: false, context: nil, concurrent: { _, _, _ in [] }, recordConflict: { _, _, _, _, _ in })

    /// Pulls batch by batch. What a batch brought is committed together with
    /// the acknowledgements it owes the server (`sync_acks`), which go with
    /// the next pull or push and are deleted only once the server has them:
    /// a connection lost between two pulls loses no acknowledgement.
    private func pull(_ client: RPCClient, _ outcome: inout Outcome) async throws {
        let limit = Int32(core.nodeSync.setup.batchSize)
        let tables = core.syncRegistry.tables(core: core)
        let byName = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, $0) })
        while true {
            let owed = try await core.database.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT kind, table_name, key FROM sync_acks").map { (kind: $0["kind"] as String, table: $0["table_name"] as String, key: $0["key"] as String) }
            }
            let request = Haven_V1_PullRequest.with {
                $0.acknowledged = owed.filter { $0.kind == "row" }.map(\.key)
                $0.removed = owed.filter { $0.kind == "removal" }.map { ack in .with { $0.table = ack.table; $0.key = ack.key } }
                $0.limit = limit
                $0.tables = tables.map(\.name)
            }
            let response = try await client.unary("haven.v1.Sync", "Pull", request, as: Haven_V1_PullResponse.self, timeout: .seconds(60))
            core.logger.debug("pulled", metadata: ["rows": "\(response.rows.count)", "remove": "\(response.remove.count)", "acks sent": "\(owed.count)", "remaining": "\(response.remaining)"])
            let rows: [(SyncTable, SyncRow)]
            do {
                rows = try response.rows.enumerated().map { try SyncRowCodec.decode($1, position: $0, tables: byName) }
            } catch let error as SyncRowError {
                throw RPCError(.dataLoss, "the server sent a row this desktop cannot accept: \(error.description)")
            }
            let applied = try await core.database.writer.write { [core] db -> Int in
                // The server has the acknowledgements this pull carried.
                for ack in owed {
                    try db.execute(sql: "DELETE FROM sync_acks WHERE kind = ? AND table_name = ? AND key = ?", arguments: [ack.kind, ack.table, ack.key])
                }
                // What the owner no longer sees goes first, children before parents.
                let (taken, kept) = try Self.remove(response.remove, tables: byName, db)
                if taken > 0 || kept > 0 {
                    try core.auditSystem(AuditRecord(action: "sync.remove",
                                                     purpose: "\(taken) rows the owner no longer sees were removed from this desktop\(kept > 0 ? "; \(kept) kept because records made here still refer to them" : "")"), db: db)
                }
                var fresh: [String: [SyncRow]] = [:]
                for (table, row) in rows {
                    if try SyncRowCodec.store(table, row, db) { fresh[table.name, default: []].append(row) }
                    // The server holds it: never push it back.
                    if table.push != nil {
                        try db.execute(sql: "INSERT OR IGNORE INTO sync_pushed (table_name, key) VALUES (?, ?)", arguments: [table.name, row.key])
                    }
                    try db.execute(sql: "INSERT OR IGNORE INTO sync_acks (kind, table_name, key) VALUES ('row', ?, ?)", arguments: [table.name, row.key])
                }
                for removal in response.remove {
                    try db.execute(sql: "INSERT OR IGNORE INTO sync_acks (kind, table_name, key) VALUES ('removal', ?, ?)", arguments: [removal.table, removal.key])
                }
                // Each table re-derives what depends on its new rows, in order.
                for table in tables {
                    if let new = fresh[table.name], let received = table.received { try received(new, Self.desktopReceipt, db) }
                }
                try db.execute(sql: "UPDATE sync_link SET pending_pull = ?", arguments: [response.remaining])
                let applied = fresh.values.reduce(0) { $0 + $1.count }
                if !rows.isEmpty {
                    try core.auditSystem(AuditRecord(action: "sync.receive", purpose: "\(applied) new rows of \(rows.count) from the school server"), db: db)
                }
                return applied
            }
            outcome.pulled += applied
            outcome.conflictIDs.formUnion(rows.filter { $0.0.name == "sync_conflicts" }.map { $0.1.text("id") })
            if response.rows.isEmpty, response.remove.isEmpty, owed.isEmpty { return }
        }
    }
}
