import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

/// The server's half of sync, for an approved node acting for its owner:
/// what the node made (Push) and what the owner may see that the node does
/// not hold yet (Pull). Docs/sync.md.
struct SyncServer {
    let core: CoreModule

    /// What a node may write here: its owner's concerns and concern entries.
    static let pushable: Set<String> = ["concerns", "concern_entries"]
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
        let rows: [ReceivedRow]
        do {
            rows = try request.rows.enumerated().map { try SyncRowCodec.decode($1, position: $0, allowed: Self.pushable) }
        } catch let error as SyncRowError {
            throw RPCError.invalidArgument(error.description)
        }
        let now = StoredTime.ms(core.clock.now())
        do {
            return try await core.perform(context) { db in
                var response = Haven_V1_PushResponse()
                for (position, row) in rows.enumerated() {
                    let at = "rows[\(position)] (\(row.table.name) \(row.text("id")))"
                    guard row.text("origin_node") == node else {
                        throw RPCError.invalidArgument("\(at): origin_node must be the pushing node, \(node)")
                    }
                    let isNew: Bool
                    switch row.table.name {
                    case "concerns": isNew = try acceptConcern(row, at: at, owner: owner, context: context, db: db)
                    default: isNew = try acceptEntry(row, at: at, owner: owner, node: node, now: now, context: context, db: db, conflicts: &response.conflicts)
                    }
                    if isNew { response.accepted += 1 } else { response.duplicates += 1 }
                }
                let head = try acceptAudit(request.audit, node: node, db: db)
                response.auditHeadSeq = head.seq
                response.auditHeadHash = head.hash
                try db.execute(sql: "UPDATE nodes SET last_sync_at = ? WHERE id = ?", arguments: [now, node])
                if response.accepted > 0 || !request.audit.isEmpty {
                    try core.audit(AuditRecord(action: "sync.push", recordIDs: [node],
                                               purpose: "\(response.accepted) new rows, \(response.duplicates) already held, \(request.audit.count) audit entries"),
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

    private func acceptConcern(_ row: ReceivedRow, at: String, owner: String, context: CallContext, db: Database) throws -> Bool {
        guard row.text("reporter_id") == owner else {
            throw RPCError.invalidArgument("\(at): reporter_id must be the node's owner; a node pushes only its owner's records")
        }
        guard let student = try core.student(row.text("student_id"), db: db) else {
            throw RPCError.failedPrecondition("\(at): the server has no student \(row.text("student_id"))")
        }
        guard row.text("school_id") == student.schoolID else {
            throw RPCError.invalidArgument("\(at): school_id is not the student's school")
        }
        if let reason = try core.policy.canReport(context.caller, student: student, db: db) {
            throw AccessDenied(reason, studentID: student.id)
        }
        guard try SyncRowCodec.store(row, db) else { return false }
        let id = row.text("id")
        try ConcernStore.rederiveCurrent(db, concernID: id)
        // Routing and escalation run here, on the server, from this event.
        try core.publish(NewEvent(
            type: "concern.created", studentID: student.id, schoolID: student.schoolID, subjectID: id,
            attributes: ["category": row.text("category"), "severity": row.text("severity"), "grade": student.grade,
                         "reporter_id": owner, "incident_id": row.text("incident_id"), "origin_node": row.text("origin_node")]), db: db)
        try core.audit(AuditRecord(action: "concern.create", studentID: student.id, recordIDs: [id],
                                   fields: ["category", "severity", "narrative", "observed_at", "location"], purpose: "synced from \(row.text("origin_node"))"),
                       context: context, db: db)
        return true
    }

    private func acceptEntry(
        _ row: ReceivedRow, at: String, owner: String, node: String, now: Int64, context: CallContext, db: Database,
        conflicts: inout [Haven_V1_SyncConflict]
    ) throws -> Bool {
        guard row.text("author_id") == owner else {
            throw RPCError.invalidArgument("\(at): author_id must be the node's owner; a node pushes only its owner's records")
        }
        let entryID = row.text("id")
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM concern_entries WHERE id = ?"), arguments: [entryID]) == true {
            return false
        }
        let concernID = row.text("concern_id")
        guard let concern = try Row.fetchOne(db.cachedStatement(sql: "SELECT student_id, school_id, reporter_id FROM concerns WHERE id = ?"),
                                             arguments: [concernID]) else {
            throw RPCError.failedPrecondition("\(at): the server has no concern \(concernID)")
        }
        let studentID: String = concern["student_id"]
        let kind = row.text("kind")
        let decision = try core.access(for: context.caller, studentID: studentID, db: db)
        let ownNote = kind == "note" && (concern["reporter_id"] as String) == owner
        guard decision.isFull || ownNote else { throw AccessDenied(decision.explanation, studentID: studentID) }

        if kind == "status" {
            conflicts += try resolveConcurrentStatus(row, concernID: concernID, node: node, now: now, context: context, db: db, studentID: studentID)
        }
        guard try SyncRowCodec.store(row, db) else { return false }
        try ConcernStore.rederiveCurrent(db, concernID: concernID)
        var attributes = ["change": kind == "status" ? "status:\(row.text("status"))" : kind == "amendment" ? "amendment:\(row.text("field"))" : "note",
                          "entry_id": entryID, "origin_node": node]
        if kind == "status" { attributes["status"] = row.text("status") }
        if let current = try Row.fetchOne(db.cachedStatement(sql: "SELECT category, severity FROM concern_current WHERE concern_id = ?"), arguments: [concernID]) {
            attributes["category"] = current["category"]
            attributes["severity"] = current["severity"]
        }
        try core.publish(NewEvent(type: "concern.updated", studentID: studentID, schoolID: concern["school_id"], subjectID: concernID,
                                  attributes: attributes), db: db)
        try core.audit(AuditRecord(action: "concern.\(kind == "status" ? "status" : kind == "amendment" ? "amend" : "note")", studentID: studentID,
                                   recordIDs: [concernID, entryID], purpose: "synced from \(node)"), context: context, db: db)
        return true
    }

    /// A status change made on the node while the server's own status
    /// changes to the same concern were unknown to it: concurrent. The rule
    /// (Docs/sync.md): a close loses to a concurrent change that keeps the
    /// concern open; otherwise the later change wins, ties by entry id. Both
    /// stay in the history; the loser is recorded and passed over.
    private func resolveConcurrentStatus(
        _ row: ReceivedRow, concernID: String, node: String, now: Int64, context: CallContext, db: Database, studentID: String
    ) throws -> [Haven_V1_SyncConflict] {
        let concurrent = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT id, status, created_at FROM concern_entries e
            WHERE concern_id = ? AND kind = 'status' AND origin_node != ?
              AND NOT EXISTS (SELECT 1 FROM node_sent s WHERE s.node_id = ? AND s.key = e.id)
              AND NOT EXISTS (SELECT 1 FROM sync_conflicts x WHERE x.loser_entry_id = e.id)
            """), arguments: [concernID, node, node])
        var found: [Haven_V1_SyncConflict] = []
        let incoming = (id: row.text("id"), status: row.text("status"), at: row.integer("created_at"))
        for other in concurrent {
            let held = (id: other["id"] as String, status: other["status"] as String, at: other["created_at"] as Int64)
            let (winner, loser, rule) = Self.decide(incoming, held)
            let conflict = Haven_V1_SyncConflict.with {
                $0.id = RecordID.make()
                $0.concernID = concernID
                $0.winnerEntryID = winner
                $0.loserEntryID = loser
                $0.rule = rule
                $0.detectedAt = .init(ms: now)
            }
            try db.execute(sql: """
                INSERT INTO sync_conflicts (id, concern_id, winner_entry_id, loser_entry_id, rule, detected_at, origin_node)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [conflict.id, concernID, winner, loser, rule, now, core.nodeID])
            try core.audit(AuditRecord(action: "sync.conflict", studentID: studentID, recordIDs: [concernID, winner, loser], purpose: rule),
                           context: context, db: db)
            found.append(conflict)
        }
        return found
    }

    typealias StatusChange = (id: String, status: String, at: Int64)

    /// The conflict rule, as one pure function: (winner, loser, rule).
    static func decide(_ a: StatusChange, _ b: StatusChange) -> (String, String, String) {
        if (a.status == "closed") != (b.status == "closed") {
            let (open, closed) = a.status == "closed" ? (b, a) : (a, b)
            return (open.id, closed.id, "close-loses-to-open: a close loses to a concurrent change that keeps the concern open")
        }
        let later = (a.at, a.id) > (b.at, b.id) ? a : b
        let earlier = later.id == a.id ? b : a
        return (later.id, earlier.id, "later-wins: the later of two concurrent status changes wins")
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
            guard AuditLog.hash(previous: entry.prevHash, canonical: AuditLog.canonical(seq: entry.seq, data)) == entry.hash else {
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

extension SyncServer {
    static let defaultPullLimit = 500
    static let maxAcknowledged = 20_000

    /// Marks the previous batch as held by the node, then sends the next
    /// batch of rows its owner may see and it does not hold, in dependency
    /// order (Docs/sync.md, "What reaches a desktop").
    func pull(_ request: Haven_V1_PullRequest, context: CallContext) async throws -> Haven_V1_PullResponse {
        let node = context.caller.nodeID!
        guard request.acknowledged.count <= Self.maxAcknowledged else {
            throw RPCError.resourceExhausted("acknowledge at most \(Self.maxAcknowledged) keys per pull")
        }
        if let bad = request.acknowledged.firstIndex(where: { $0.isEmpty || $0.utf8.count > 200 }) {
            throw RPCError.invalidArgument("acknowledged[\(bad)]: a key is empty or too long")
        }
        let limit = request.limit == 0 ? Self.defaultPullLimit : Int(request.limit)
        guard (1...5_000).contains(limit) else { throw RPCError.invalidArgument("limit must be from 1 to 5000 (got \(limit))") }
        let now = StoredTime.ms(core.clock.now())
        return try await core.perform(context) { db in
            for key in request.acknowledged {
                try db.execute(sql: "INSERT OR IGNORE INTO node_sent (node_id, key) VALUES (?, ?)", arguments: [node, key])
            }
            let scope = try PullScope(core: core, caller: context.caller, db: db)
            var response = Haven_V1_PullResponse()
            var remaining = 0
            var sentByStudent: [String: [String]] = [:]
            for (table, condition, arguments) in scope.queries() {
                let pending = "FROM \(table.name) WHERE (\(condition)) AND NOT EXISTS (SELECT 1 FROM node_sent s WHERE s.node_id = ? AND s.key = \(table.keySQL))"
                var args = arguments
                args += [node]
                let count = try Int.fetchOne(db, sql: "SELECT count(*) \(pending)", arguments: args) ?? 0
                let room = limit - response.rows.count
                if room > 0, count > 0 {
                    let rows = try Row.fetchAll(db, sql: """
                        SELECT \(table.columnNames.joined(separator: ", ")), \(table.keySQL) AS sync_key \(pending) ORDER BY sync_key LIMIT \(room)
                        """, arguments: args)
                    for row in rows {
                        response.rows.append(SyncRowCodec.encode(table, row))
                        if let student = scope.student(of: table, row) {
                            sentByStudent[student, default: []].append(row["sync_key"])
                        }
                    }
                    remaining += count - rows.count
                } else {
                    remaining += count
                }
            }
            response.remaining = Int64(remaining)
            // A disclosure to a device: audited per student, like a read.
            for (student, keys) in sentByStudent.sorted(by: { $0.key < $1.key }) {
                try core.audit(AuditRecord(action: "sync.send", studentID: student, recordIDs: Array(keys.prefix(50)),
                                           purpose: "to node \(node), \(keys.count) rows"), context: context, db: db)
            }
            try db.execute(sql: "UPDATE nodes SET last_sync_at = ? WHERE id = ?", arguments: [now, node])
            return response
        }
    }
}

/// What a node's owner receives: the students whose whole record the owner
/// sees through their caseload, a grant or emergency access (checked by the
/// access policy, as a read would be), with those students' concerns; and
/// the owner's own reports about anyone else.
struct PullScope {
    let owner: String
    let visibleStudents: [String]
    let visibleJSON: String
    let ownReportStudentsJSON: String
    let staffJSON: String
    let schoolsJSON: String
    let concernStudent: [String: String]

    init(core: CoreModule, caller: Caller, db: Database) throws {
        owner = caller.staffID!
        let now = StoredTime.ms(core.clock.now())
        let candidates = try String.fetchAll(db, sql: """
            SELECT student_id FROM caseload WHERE staff_id = ?1
            UNION SELECT g.student_id FROM grants g LEFT JOIN grant_revocations r ON r.grant_id = g.id
                  WHERE g.grantee_id = ?1 AND r.grant_id IS NULL AND g.expires_at > ?2
            UNION SELECT student_id FROM emergency_access WHERE staff_id = ?1 AND expires_at > ?2
            """, arguments: [owner, now])
        visibleStudents = try candidates.filter { try core.access(for: caller, studentID: $0, db: db).isFull }.sorted()
        visibleJSON = Self.json(visibleStudents)
        let ownReportStudents = try String.fetchAll(db, sql: "SELECT DISTINCT student_id FROM concerns WHERE reporter_id = ?", arguments: [owner])
        ownReportStudentsJSON = Self.json(ownReportStudents)
        let allStudents = Self.json(Array(Set(visibleStudents).union(ownReportStudents)))
        var concernStudent: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT id, student_id FROM concerns WHERE student_id IN (SELECT value FROM json_each(?)) OR reporter_id = ?
            """, arguments: [visibleJSON, owner]) {
            concernStudent[row["id"]] = row["student_id"]
        }
        self.concernStudent = concernStudent
        let staff = try String.fetchAll(db, sql: """
            SELECT ? UNION SELECT reporter_id FROM concerns WHERE id IN (SELECT value FROM json_each(?))
            UNION SELECT author_id FROM concern_entries WHERE concern_id IN (SELECT value FROM json_each(?))
            """, arguments: [owner, Self.json(Array(concernStudent.keys)), Self.json(Array(concernStudent.keys))])
        staffJSON = Self.json(staff)
        schoolsJSON = Self.json(try String.fetchAll(db, sql: "SELECT DISTINCT school_id FROM students WHERE id IN (SELECT value FROM json_each(?))",
                                                    arguments: [allStudents]))
        studentsJSON = allStudents
    }

    let studentsJSON: String

    private static func json(_ ids: [String]) -> String {
        "[" + ids.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "]"
    }

    /// Each table's condition on its rows, in dependency order.
    func queries() -> [(SyncTable, String, StatementArguments)] {
        let visibleConcerns = "SELECT id FROM concerns WHERE student_id IN (SELECT value FROM json_each(?))"
        return [
            (.schools, "id IN (SELECT value FROM json_each(?))", [schoolsJSON]),
            (.staff, "id IN (SELECT value FROM json_each(?))", [staffJSON]),
            (.students, "id IN (SELECT value FROM json_each(?))", [studentsJSON]),
            (.caseload, "staff_id = ? AND student_id IN (SELECT value FROM json_each(?))", [owner, visibleJSON]),
            (.grants, "grantee_id = ? AND student_id IN (SELECT value FROM json_each(?))", [owner, visibleJSON]),
            (.grantRevocations, "grant_id IN (SELECT id FROM grants WHERE grantee_id = ? AND student_id IN (SELECT value FROM json_each(?)))",
             [owner, visibleJSON]),
            (.concerns, "student_id IN (SELECT value FROM json_each(?)) OR reporter_id = ?", [visibleJSON, owner]),
            (.concernEntries, "concern_id IN (\(visibleConcerns)) OR (author_id = ? AND concern_id IN (SELECT id FROM concerns WHERE reporter_id = ?))",
             [visibleJSON, owner, owner]),
            (.conflicts, "concern_id IN (\(visibleConcerns))", [visibleJSON]),
        ]
    }

    /// The student a row is about, for the disclosure audit.
    func student(of table: SyncTable, _ row: Row) -> String? {
        switch table.name {
        case "students": row["id"]
        case "concerns", "caseload", "grants": row["student_id"]
        case "concern_entries", "sync_conflicts": concernStudent[row["concern_id"]]
        default: nil
        }
    }
}
