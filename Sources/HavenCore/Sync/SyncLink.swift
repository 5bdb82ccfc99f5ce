import GRDB
import HavenPluginAPI
import HavenStorage

/// A desktop's link to its school server, as `sync_link` holds it.
struct SyncLink: Sendable {
    var host: String
    var port: Int
    var fingerprint: String
    var serverNodeID: String
    var ownerStaffID: String
    var lastAttemptAt: Int64?
    var lastSuccessAt: Int64?
    var lastError: String
    var pendingPull: Int64
    var pushedAuditSeq: Int64

    static func read(_ db: Database) throws -> SyncLink? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM sync_link WHERE singleton = 1") else { return nil }
        return SyncLink(
            host: row["server_host"], port: row["server_port"], fingerprint: row["server_fingerprint"],
            serverNodeID: row["server_node_id"], ownerStaffID: row["owner_staff_id"], lastAttemptAt: row["last_attempt_at"],
            lastSuccessAt: row["last_success_at"], lastError: row["last_error"], pendingPull: row["pending_pull"],
            pushedAuditSeq: row["pushed_audit_seq"])
    }

    var server: String { "\(host):\(port)" }

    /// Records made here (and audit entries) that the server does not hold yet.
    static func pendingPush(_ db: Database, link: SyncLink, node: String, tables: [SyncTable]) throws -> Int64 {
        var pending = try Int64.fetchOne(db, sql: "SELECT count(*) FROM audit_log WHERE seq > ?", arguments: [link.pushedAuditSeq]) ?? 0
        for table in tables where table.push != nil {
            let sql = unpushedSQL(table, select: "count(*)")
            pending += try Int64.fetchOne(db, sql: sql, arguments: namedArguments(sql, ["node": node, "owner": link.ownerStaffID])) ?? 0
        }
        return pending
    }

    /// The owner's rows of a pushable table that the server does not hold.
    static func unpushedSQL(_ table: SyncTable, select: String) -> String {
        let push = table.push!
        return """
            SELECT \(select) FROM \(table.name) WHERE (\(push.selection)) AND \(push.authorColumn) = :owner
            AND NOT EXISTS (SELECT 1 FROM sync_pushed p WHERE p.table_name = '\(table.name)' AND p.key = \(table.keySQL))
            """
    }
}
