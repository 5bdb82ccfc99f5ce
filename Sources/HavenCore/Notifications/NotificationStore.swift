import Foundation
import GRDB
import HavenProto
import HavenStorage

/// SQL for staff notifications (codes and ids, never narrative).
enum NotificationStore {
    static func insert(_ db: Database, recipient: String, kind: String, message: String, studentID: String?, subjectID: String?, node: String, at: Int64) throws {
        try db.executeCached("""
            INSERT INTO notifications (id, recipient_id, kind, message, student_id, subject_id, created_at, origin_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [RecordID.make(), recipient, kind, message, studentID, subjectID, at, node])
    }

    static func list(_ db: Database, recipient: String, unreadOnly: Bool) throws -> [Haven_V1_Notification] {
        var sql = """
            SELECT n.*, r.read_at FROM notifications n LEFT JOIN notification_reads r ON r.notification_id = n.id
            WHERE n.recipient_id = ?
            """
        if unreadOnly { sql += " AND r.read_at IS NULL" }
        sql += " ORDER BY n.created_at DESC LIMIT 200"
        return try Row.fetchAll(db, sql: sql, arguments: [recipient]).map { row in
            Haven_V1_Notification.with {
                $0.id = row["id"]
                $0.kind = row["kind"]
                $0.message = row["message"]
                $0.studentID = row["student_id"] ?? ""
                $0.subjectID = row["subject_id"] ?? ""
                $0.createdAt = .init(ms: row["created_at"])
                if let read: Int64 = row["read_at"] { $0.readAt = .init(ms: read) }
            }
        }
    }

    static func markRead(_ db: Database, recipient: String, ids: [String], at: Int64) throws -> Int {
        var marked = 0
        for id in ids {
            try db.executeCached("""
                INSERT OR IGNORE INTO notification_reads (notification_id, read_at)
                SELECT id, ? FROM notifications WHERE id = ? AND recipient_id = ?
                """, [at, id, recipient])
            marked += db.changesCount
        }
        return marked
    }
}
