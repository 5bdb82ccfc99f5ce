import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

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
        // Only what the node can store: a desktop without a plugin gets none of its rows.
        let accepted = Set(request.tables)
        let tables = core.syncRegistry.tables(core: core).filter { accepted.isEmpty || accepted.contains($0.name) }
        return try await core.perform(context) { db in
            for key in request.acknowledged {
                try db.execute(sql: "INSERT OR IGNORE INTO node_sent (node_id, key) VALUES (?, ?)", arguments: [node, key])
            }
            for removed in request.removed {
                try db.execute(sql: "DELETE FROM node_removals WHERE node_id = ? AND table_name = ? AND key = ?", arguments: [node, removed.table, removed.key])
            }
            let scope = try PullScope(core: core, caller: context.caller, db: db)
            var response = Haven_V1_PullResponse()
            response.remove = try removals(tables: tables, scope: scope, node: node, db: db)
            var remaining = 0
            var bytes = 0
            var sentByStudent: [String: [String]] = [:]
            for table in tables {
                let pending = """
                    FROM \(table.name) WHERE (\(table.pull))
                    AND NOT EXISTS (SELECT 1 FROM node_sent s WHERE s.node_id = :node AND s.key = \(table.keySQL))
                    """
                var values = scope.arguments
                values["node"] = node
                let arguments = namedArguments(pending, values)
                let count = try Int.fetchOne(db, sql: "SELECT count(*) \(pending)", arguments: arguments) ?? 0
                let room = limit - response.rows.count
                guard room > 0, bytes < SyncRowCodec.maxBatchBytes, count > 0 else {
                    remaining += count
                    continue
                }
                let about = table.student.map { "\($0) AS sync_student" } ?? "NULL AS sync_student"
                let rows = try Row.fetchAll(db, sql: """
                    SELECT \(table.columnNames.joined(separator: ", ")), \(about), \(table.keySQL) AS sync_key \(pending) ORDER BY sync_key LIMIT \(room)
                    """, arguments: arguments)
                var sent = 0
                // Cut by size too: an answer must fit in one frame.
                for row in rows where bytes < SyncRowCodec.maxBatchBytes {
                    let message = SyncRowCodec.encode(table, row)
                    let size = SyncRowCodec.size(message)
                    // A big row starts the next batch rather than overfill this one.
                    if !response.rows.isEmpty, bytes + size > SyncRowCodec.maxBatchBytes {
                        bytes = SyncRowCodec.maxBatchBytes
                        break
                    }
                    bytes += size
                    response.rows.append(message)
                    sent += 1
                    if let student = row["sync_student"] as String?, !student.isEmpty {
                        sentByStudent[student, default: []].append(row["sync_key"])
                    }
                }
                remaining += count - sent
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

/// Who and what a node's owner receives: the students whose whole record
/// the owner sees through their caseload, a grant, emergency access or a
/// plugin's assignment (each checked by the access policy, as a read would
/// be); the students of the owner's own reports (directory rows only); and
/// the staff those rows name.
struct PullScope {
    /// Named arguments for the tables' pull conditions.
    let arguments: [String: (any DatabaseValueConvertible)?]
    /// The students the owner sees in full.
    let visible: [String]

    init(core: CoreModule, caller: Caller, db: Database) throws {
        let owner = caller.staffID!
        let now = StoredTime.ms(core.clock.now())
        var candidates = Set(try String.fetchAll(db, sql: """
            SELECT student_id FROM caseload WHERE staff_id = :owner
            UNION SELECT g.student_id FROM grants g LEFT JOIN grant_revocations r ON r.grant_id = g.id
                  WHERE g.grantee_id = :owner AND r.grant_id IS NULL AND g.expires_at > :now
            UNION SELECT student_id FROM emergency_access WHERE staff_id = :owner AND expires_at > :now
            """, arguments: ["owner": owner, "now": now]))
        for sql in core.syncRegistry.candidateStudentQueries {
            candidates.formUnion(try String.fetchAll(db, sql: sql, arguments: ["owner": owner]))
        }
        let visible = try candidates.filter { try core.access(for: caller, studentID: $0, db: db).isFull }.sorted()
        self.visible = visible
        let reported = try String.fetchAll(db, sql: "SELECT DISTINCT student_id FROM concerns WHERE reporter_id = ?", arguments: [owner])
        let students = Self.json(visible)
        let staff = try String.fetchAll(db, sql: """
            SELECT :owner
            UNION SELECT reporter_id FROM concerns WHERE student_id IN (SELECT value FROM json_each(:students)) OR reporter_id = :owner
            UNION SELECT author_id FROM concern_entries WHERE concern_id IN (SELECT id FROM concerns WHERE student_id IN (SELECT value FROM json_each(:students)))
            """, arguments: ["owner": owner, "students": students])
        arguments = [
            "owner": owner, "students": students, "directory": Self.json(Array(Set(visible).union(reported)).sorted()),
            "staff": Self.json(staff),
        ]
    }

    /// A JSON array of ids for `json_each`, escaped properly whatever they hold.
    static func json(_ ids: [String]) -> String {
        (try? JSONEncoder().encode(ids)).flatMap { String(data: $0, encoding: .utf8) } ?? "[]"
    }
}
