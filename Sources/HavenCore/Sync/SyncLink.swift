import GRDB
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
    var pushedConcernRowID: Int64
    var pushedEntryRowID: Int64
    var pushedAuditSeq: Int64

    static func read(_ db: Database) throws -> SyncLink? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM sync_link WHERE singleton = 1") else { return nil }
        return SyncLink(
            host: row["server_host"], port: row["server_port"], fingerprint: row["server_fingerprint"],
            serverNodeID: row["server_node_id"], ownerStaffID: row["owner_staff_id"], lastAttemptAt: row["last_attempt_at"],
            lastSuccessAt: row["last_success_at"], lastError: row["last_error"], pendingPull: row["pending_pull"],
            pushedConcernRowID: row["pushed_concern_rowid"], pushedEntryRowID: row["pushed_entry_rowid"], pushedAuditSeq: row["pushed_audit_seq"])
    }

    var server: String { "\(host):\(port)" }

    /// Records made here that the server does not hold yet.
    static func pendingPush(_ db: Database, link: SyncLink, node: String) throws -> Int64 {
        let concerns = try Int64.fetchOne(db, sql: "SELECT count(*) FROM concerns WHERE origin_node = ? AND rowid > ?",
                                          arguments: [node, link.pushedConcernRowID]) ?? 0
        let entries = try Int64.fetchOne(db, sql: "SELECT count(*) FROM concern_entries WHERE origin_node = ? AND rowid > ?",
                                         arguments: [node, link.pushedEntryRowID]) ?? 0
        let audit = try Int64.fetchOne(db, sql: "SELECT count(*) FROM audit_log WHERE seq > ?", arguments: [link.pushedAuditSeq]) ?? 0
        return concerns + entries + audit
    }
}
