import Foundation
import GRDB
import HavenLocking
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

/// The server's half of sync, for an approved node acting for its owner:
/// what the node made (Push) and what the owner may see that the node does
/// not hold yet (Pull). Docs/sync.md.
struct SyncServer {
    let core: CoreModule

    static let maxPushRows = 2_000
    static let maxPushAudit = 10_000

    /// The node's audit chain does not continue from the head recorded at its
    /// last sync: its history was changed after it was synced.
    struct ChainBroken: Error { let message: String }

    func push(_ request: Haven_V1_PushRequest, context: CallContext) async throws -> Haven_V1_PushResponse {
        let node = context.caller.nodeID!
        let owner = context.caller.staffID!
        guard request.rows.count <= Self.maxPushRows, request.audit.count <= Self.maxPushAudit else {
            throw RPCError.resourceExhausted("a push carries at most \(Self.maxPushRows) rows and \(Self.maxPushAudit) audit entries")
        }
        let tables = core.syncRegistry.tables(core: core)
        let pushable = Dictionary(uniqueKeysWithValues: tables.filter { $0.push != nil }.map { ($0.name, $0) })
        let rows: [(SyncTable, SyncRow)]
        do {
            rows = try request.rows.enumerated().map { try SyncRowCodec.decode($1, position: $0, tables: pushable) }
        } catch let error as SyncRowError {
            throw RPCError.invalidArgument(error.description)
        }
        let now = StoredTime.ms(core.clock.now())
        do {
            return try await core.perform(context) { db in
                var response = Haven_V1_PushResponse()
                // What the node had received before it made these rows: it
                // decides which of the server's changes were concurrent.
                for key in request.acknowledged {
                    try db.execute(sql: "INSERT OR IGNORE INTO node_sent (node_id, key) VALUES (?, ?)", arguments: [node, key])
                }
                var fresh: [String: [SyncRow]] = [:]
                for (position, (table, row)) in rows.enumerated() {
                    let at = "rows[\(position)] (\(table.name) \(row.key))"
                    let push = table.push!
                    // Rows an honest node never sends refuse the whole batch.
                    if table.columnNames.contains("origin_node"), row.text("origin_node") != node {
                        throw RPCError.invalidArgument("\(at): origin_node must be the pushing node, \(node)")
                    }
                    guard row.text(push.authorColumn) == owner else {
                        throw RPCError.invalidArgument("\(at): \(push.authorColumn) must be the node's owner; a node sends only its owner's records")
                    }
                    if try Bool.fetchOne(db, sql: "SELECT 1 FROM \(table.name) WHERE \(table.keySQL) = ?", arguments: [row.key]) == true {
                        response.duplicates += 1
                        continue
                    }
                    // Rows the server cannot take now are refused one by one, so
                    // one of them never holds back the rest (Docs/sync.md).
                    if let reason = try refusal(table, row, caller: context.caller, now: now, db: db) {
                        response.rejected.append(.with { $0.table = table.name; $0.key = row.key; $0.reason = reason })
                        try core.audit(AuditRecord(action: "sync.reject", studentID: try student(of: table, row, db), recordIDs: [row.key],
                                                   purpose: "\(table.name): \(reason)", outcome: "refused"), context: context, db: db)
                        continue
                    }
                    guard try SyncRowCodec.store(table, row, db) else {
                        response.duplicates += 1
                        continue
                    }
                    fresh[table.name, default: []].append(row)
                    response.accepted += 1
                }
                let found = Locked<[Haven_V1_SyncConflict]>([])
                let receipt = receipt(node: node, now: now, context: context, found: found)
                for table in tables {
                    if let rows = fresh[table.name], let received = table.received { try received(rows, receipt, db) }
                }
                response.conflicts = found.withLock { $0 }
                let head = try acceptAudit(request.audit, node: node, db: db)
                response.auditHeadSeq = head.seq
                response.auditHeadHash = head.hash
                try db.execute(sql: "UPDATE nodes SET last_sync_at = ? WHERE id = ?", arguments: [now, node])
                if response.accepted > 0 || !request.audit.isEmpty || !response.rejected.isEmpty {
                    try core.audit(AuditRecord(action: "sync.push", recordIDs: [node],
                                               purpose: "\(response.accepted) new rows, \(response.duplicates) already held, \(response.rejected.count) refused, \(request.audit.count) audit entries"),
                                   context: context, db: db)
                }
                return response
            }
        } catch let broken as ChainBroken {
            try await core.database.writer.write { db in
                try core.audit(AuditRecord(action: "sync.audit_mismatch", recordIDs: [node], purpose: broken.message, outcome: "refused"),
                               context: context, db: db)
            }
            throw RPCError(.dataLoss, broken.message)
        }
    }

    /// Why the server will not take this row now, or nil: a time in the
    /// future, or the table's own check (the owner's access, the record it
    /// belongs to, a value the server does not accept).
    private func refusal(_ table: SyncTable, _ row: SyncRow, caller: Caller, now: Int64, db: Database) throws -> String? {
        let latest = now + 5 * 60 * 1000
        for column in table.columns where column.type == .integer && (column.name == "at" || column.name.hasSuffix("_at")) {
            if row.integer(column.name) > latest { return "\(column.name) is in the future by the server's clock" }
        }
        do {
            try table.push!.authorize(row, caller, db)
            return nil
        } catch let denied as AccessDenied {
            return denied.message
        } catch let error as RPCError {
            return error.message
        }
    }

    /// The student a row is about, for audit entries.
    private func student(of table: SyncTable, _ row: SyncRow, _ db: Database) throws -> String? {
        if let id = row.values["student_id"].flatMap(String.fromDatabaseValue) { return id }
        guard let expression = table.student else { return nil }
        let sql = "SELECT \(expression) FROM (SELECT " + table.columns.map { "? AS \($0.name)" }.joined(separator: ", ") + ")"
        return try String.fetchOne(db, sql: sql, arguments: StatementArguments(table.columnNames.map { row.values[$0]! }))
    }

    /// What a table's `received` hook may do on the server: find changes
    /// concurrent with the node's, and record the rule's decision.
    private func receipt(node: String, now: Int64, context: CallContext, found: Locked<[Haven_V1_SyncConflict]>) -> SyncReceipt {
        SyncReceipt(
            onServer: true, context: context,
            concurrent: { db, sql, arguments in
                // Changes made elsewhere that the pushing node had not received.
                var all = arguments
                all["node"] = node
                let query = """
                    SELECT c.id, c.status, c.at FROM (\(sql)) c
                    WHERE c.origin_node != :node
                      AND NOT EXISTS (SELECT 1 FROM node_sent s WHERE s.node_id = :node AND s.key = c.id)
                      AND NOT EXISTS (SELECT 1 FROM sync_conflicts x WHERE x.loser_entry_id = c.id)
                    """
                return try Row.fetchAll(db, sql: query, arguments: namedArguments(query, all)).map {
                    StatusChange(id: $0["id"], status: $0["status"], at: $0["at"])
                }
            },
            recordConflict: { db, subjectType, subjectID, studentID, decision in
                let id = RecordID.make()
                try db.execute(sql: """
                    INSERT INTO sync_conflicts (id, subject_type, subject_id, student_id, winner_entry_id, loser_entry_id, rule, detected_at, origin_node)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [id, subjectType, subjectID, studentID, decision.winner, decision.loser, decision.rule, now, core.nodeID])
                let row = try Row.fetchOne(db, sql: "SELECT * FROM sync_conflicts WHERE id = ?", arguments: [id])!
                found.withLock { $0.append(SyncConflicts.message(row)) }
                try core.audit(AuditRecord(action: "sync.conflict", studentID: studentID, recordIDs: [subjectID, decision.winner, decision.loser],
                                           purpose: decision.rule), context: context, db: db)
            })
    }

    /// Appends the node's audit entries after the head recorded at its last
    /// sync, checking every link; returns the new head.
    private func acceptAudit(_ entries: [Haven_V1_SyncAuditEntry], node: String, db: Database) throws -> (seq: Int64, hash: String) {
        let head = try Row.fetchOne(db, sql: "SELECT audit_head_seq, audit_head_hash FROM nodes WHERE id = ?", arguments: [node])!
        var seq: Int64 = head["audit_head_seq"]
        var hash: String = (head["audit_head_hash"] as String).isEmpty ? AuditLog.genesis : head["audit_head_hash"]
        for entry in entries.sorted(by: { $0.seq < $1.seq }) {
            let data = AuditEntryData(
                id: entry.id, at: entry.atMs, actorID: entry.actorID, actorName: entry.actorName, actorRoles: entry.actorRoles,
                action: entry.action, studentID: entry.studentID, recordIDs: entry.recordIds, fields: entry.fields,
                purpose: entry.purpose, outcome: entry.outcome, method: entry.method, node: entry.node)
            guard AuditLog.hash(previous: entry.prevHash, seq: entry.seq, data) == entry.hash else {
                throw ChainBroken(message: "audit entry \(entry.seq) does not match its own hash: it was changed after it was written")
            }
            if entry.seq <= seq {
                // Sent before (a retried push): it must be exactly what is held.
                let held = try String.fetchOne(db, sql: "SELECT hash FROM node_audit_log WHERE node_id = ? AND seq = ?", arguments: [node, entry.seq])
                guard held == nil || held == entry.hash else {
                    throw ChainBroken(message: "audit entry \(entry.seq) differs from the one this node sent before: its history was rewritten after it synced")
                }
                continue
            }
            guard entry.seq == seq + 1 else {
                throw RPCError.invalidArgument("audit: entry \(entry.seq) follows \(seq); entries must be consecutive")
            }
            guard entry.prevHash == hash else {
                throw ChainBroken(message: "audit entry \(entry.seq) does not continue the chain head recorded at the last sync (\(seq), \(hash.prefix(12))…): the node's history was rewritten")
            }
            try db.execute(sql: """
                INSERT INTO node_audit_log (node_id, seq, id, at, actor_id, actor_name, actor_roles, action, student_id, record_ids,
                                            fields, purpose, outcome, method, node, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [node, entry.seq, entry.id, entry.atMs, entry.actorID, entry.actorName, entry.actorRoles, entry.action,
                                 entry.studentID, entry.recordIds, entry.fields, entry.purpose, entry.outcome, entry.method, entry.node,
                                 entry.prevHash, entry.hash])
            seq = entry.seq
            hash = entry.hash
        }
        try db.execute(sql: "UPDATE nodes SET audit_head_seq = ?, audit_head_hash = ? WHERE id = ?", arguments: [seq, hash, node])
        return (seq, hash)
    }
}

/// Conflict rows as messages.
enum SyncConflicts {
    static func message(_ row: Row) -> Haven_V1_SyncConflict {
        .with {
            $0.id = row["id"]
            $0.subjectType = row["subject_type"]
            $0.subjectID = row["subject_id"]
            $0.winnerEntryID = row["winner_entry_id"]
            $0.loserEntryID = row["loser_entry_id"]
            $0.rule = row["rule"]
            $0.detectedAt = .init(ms: row["detected_at"])
        }
    }
}
