import Foundation
import GRDB
import HavenProto
import HavenStorage

/// SQL for grants and emergency access.
enum AccessStore {
    static func grant(_ db: Database, id: String) throws -> Haven_V1_Grant? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT g.*, r.revoked_at, r.revoked_by, r.reason AS revoke_reason,
                   ge.display_name AS grantee_name, gb.display_name AS granted_by_name,
                   EXISTS (SELECT 1 FROM staff_roles sr WHERE sr.staff_id = g.grantee_id AND sr.role = 'sro') AS grantee_is_sro
            FROM grants g LEFT JOIN grant_revocations r ON r.grant_id = g.id
            LEFT JOIN staff ge ON ge.id = g.grantee_id LEFT JOIN staff gb ON gb.id = g.granted_by
            WHERE g.id = ?
            """), arguments: [id]) else { return nil }
        return Haven_V1_Grant.with {
            $0.id = row["id"]
            $0.studentID = row["student_id"]
            $0.granteeID = row["grantee_id"]
            $0.granteeName = row["grantee_name"] ?? ""
            $0.grantedBy = row["granted_by"]
            $0.grantedByName = row["granted_by_name"] ?? ""
            $0.purpose = row["purpose"]
            $0.createdAt = .init(ms: row["created_at"])
            $0.expiresAt = .init(ms: row["expires_at"])
            if let revoked: Int64 = row["revoked_at"] {
                $0.revokedAt = .init(ms: revoked)
                $0.revokedBy = row["revoked_by"] ?? ""
                $0.revokeReason = row["revoke_reason"] ?? ""
            }
            $0.originNode = row["origin_node"]
            $0.lawEnforcement = !(row["law_enforcement_reason"] as String).isEmpty || (row["grantee_is_sro"] as Bool)
        }
    }

    static func grantIDs(_ db: Database, studentID: String?, granteeID: String?, includeEnded: Bool, now: Int64) throws -> [String] {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let studentID { clauses.append("g.student_id = ?"); arguments += [studentID] }
        if let granteeID { clauses.append("g.grantee_id = ?"); arguments += [granteeID] }
        if !includeEnded {
            clauses.append("r.grant_id IS NULL AND g.expires_at > ?")
            arguments += [now]
        }
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        return try String.fetchAll(db.statement(assembled: """
            SELECT g.id FROM grants g LEFT JOIN grant_revocations r ON r.grant_id = g.id \(whereClause) ORDER BY g.created_at DESC
            """), arguments: arguments)
    }

    static func emergency(_ db: Database, id: String) throws -> Haven_V1_EmergencyAccess? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT e.*, s.display_name FROM emergency_access e LEFT JOIN staff s ON s.id = e.staff_id WHERE e.id = ?
            """), arguments: [id]) else { return nil }
        return Haven_V1_EmergencyAccess.with {
            $0.id = row["id"]
            $0.studentID = row["student_id"]
            $0.staffID = row["staff_id"]
            $0.staffName = row["display_name"] ?? ""
            $0.reason = row["reason"]
            $0.createdAt = .init(ms: row["created_at"])
            $0.expiresAt = .init(ms: row["expires_at"])
            $0.originNode = row["origin_node"]
        }
    }
}
