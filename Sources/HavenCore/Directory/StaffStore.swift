import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage

/// SQL for staff accounts, roles, schools, linked uids and caseloads.
enum StaffStore {
    static func record(_ db: Database, id: String) throws -> StaffRecord? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, display_name, active FROM staff WHERE id = ?"), arguments: [id]) else { return nil }
        return StaffRecord(
            id: row["id"], displayName: row["display_name"], roles: try roles(db, staffID: id),
            schoolIDs: try schools(db, staffID: id), active: row["active"] as Bool)
    }

    static func roles(_ db: Database, staffID: String) throws -> Set<Role> {
        Set(try String.fetchAll(db.cachedStatement(sql: "SELECT role FROM staff_roles WHERE staff_id = ?"), arguments: [staffID]).compactMap(Role.init(rawValue:)))
    }

    static func schools(_ db: Database, staffID: String) throws -> [String] {
        try String.fetchAll(db.cachedStatement(sql: "SELECT school_id FROM staff_schools WHERE staff_id = ? ORDER BY school_id"), arguments: [staffID])
    }

    /// Whether `schoolID` is among the staff member's listed schools (one
    /// index probe; a school-scoped role's access to a student is decided by
    /// it on every read, and an administrator may list fifty schools).
    static func lists(_ db: Database, staffID: String, schoolID: String) throws -> Bool {
        try db.fetchFirstBound("SELECT 1 FROM staff_schools WHERE staff_id = ? AND school_id = ?", staffID, schoolID) { _ in true } ?? false
    }

    /// Whether the staff member works at `schoolID`; one with no schools
    /// listed works at all of them. (Asked for every concern recorded.)
    static func worksAt(_ db: Database, staffID: String, schoolID: String) throws -> Bool {
        try db.fetchFirstBound("""
            SELECT count(*) = 0 OR coalesce(max(school_id = ?), 0) FROM staff_schools WHERE staff_id = ?
            """, schoolID, staffID) { $0.int64(0) != 0 } ?? true
    }

    static func uids(_ db: Database, staffID: String) throws -> [UInt32] {
        try Int64.fetchAll(db.cachedStatement(sql: "SELECT uid FROM staff_uids WHERE staff_id = ? ORDER BY uid"), arguments: [staffID]).map { UInt32($0) }
    }

    static func staffID(forUID uid: UInt32, _ db: Database) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT staff_id FROM staff_uids WHERE uid = ?"), arguments: [Int64(uid)])
    }

    static func message(_ db: Database, id: String) throws -> Haven_V1_StaffMember? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM staff WHERE id = ?"), arguments: [id]) else { return nil }
        return Haven_V1_StaffMember.with {
            $0.id = row["id"]
            $0.sourceID = row["source_id"] ?? ""
            $0.displayName = row["display_name"]
            $0.email = row["email"]
            $0.roles = (try? roles(db, staffID: id))?.sorted().map(\.rawValue) ?? []
            $0.schoolIds = (try? schools(db, staffID: id)) ?? []
            $0.active = row["active"] as Bool
            $0.linkedUids = (try? uids(db, staffID: id)) ?? []
            $0.originNode = row["origin_node"]
        }
    }

    static func list(_ db: Database, role: Role?, schoolID: String?, includeInactive: Bool) throws -> [String] {
        var sql = "SELECT DISTINCT s.id FROM staff s"
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let role {
            sql += " JOIN staff_roles r ON r.staff_id = s.id"
            clauses.append("r.role = ?")
            arguments += [role.rawValue]
        }
        if let schoolID {
            sql += " JOIN staff_schools ss ON ss.staff_id = s.id"
            clauses.append("ss.school_id = ?")
            arguments += [schoolID]
        }
        if !includeInactive { clauses.append("s.active = 1") }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY s.display_name, s.id"
        return try String.fetchAll(db, sql: sql, arguments: arguments)
    }

    static func insert(_ db: Database, id: String, sourceID: String?, displayName: String, email: String, node: String, now: Int64) throws {
        try db.executeCached("""
            INSERT INTO staff (id, source_id, display_name, email, active, origin_node, created_at, updated_at)
            VALUES (?, ?, ?, ?, 1, ?, ?, ?)
            """, [id, sourceID, displayName, email, node, now, now])
    }

    static func setRoles(_ db: Database, staffID: String, roles: Set<Role>) throws {
        try db.executeCached("DELETE FROM staff_roles WHERE staff_id = ?", [staffID])
        for role in roles.sorted() {
            try db.executeCached("INSERT INTO staff_roles (staff_id, role) VALUES (?, ?)", [staffID, role.rawValue])
        }
    }

    static func setSchools(_ db: Database, staffID: String, schoolIDs: [String]) throws {
        try db.executeCached("DELETE FROM staff_schools WHERE staff_id = ?", [staffID])
        for school in Set(schoolIDs).sorted() {
            try db.executeCached("INSERT INTO staff_schools (staff_id, school_id) VALUES (?, ?)", [staffID, school])
        }
    }

    static func setActive(_ db: Database, staffID: String, active: Bool, now: Int64) throws {
        try db.executeCached("UPDATE staff SET active = ?, updated_at = ? WHERE id = ?", [active, now, staffID])
    }

    static func link(_ db: Database, uid: UInt32, staffID: String) throws {
        try db.executeCached("INSERT INTO staff_uids (uid, staff_id) VALUES (?, ?) ON CONFLICT(uid) DO UPDATE SET staff_id = excluded.staff_id", [Int64(uid), staffID])
    }

    static func unlink(_ db: Database, uid: UInt32, staffID: String) throws -> Bool {
        try db.executeCached("DELETE FROM staff_uids WHERE uid = ? AND staff_id = ?", [Int64(uid), staffID])
        return db.changesCount > 0
    }

    static func isOnCaseload(_ db: Database, staffID: String, studentID: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM caseload WHERE staff_id = ? AND student_id = ?)"), arguments: [staffID, studentID]) ?? false
    }

    static func assign(_ db: Database, staffID: String, studentID: String, by: String, now: Int64) throws {
        try db.executeCached("INSERT OR IGNORE INTO caseload (staff_id, student_id, assigned_by, assigned_at) VALUES (?, ?, ?, ?)", [staffID, studentID, by, now])
    }

    static func unassign(_ db: Database, staffID: String, studentID: String) throws {
        try db.executeCached("DELETE FROM caseload WHERE staff_id = ? AND student_id = ?", [staffID, studentID])
    }

    static func caseload(_ db: Database, staffID: String) throws -> [Row] {
        try Row.fetchAll(db, sql: """
            SELECT \(StudentStore.columns) FROM caseload c
            JOIN students s ON s.id = c.student_id LEFT JOIN schools sc ON sc.id = s.school_id
            WHERE c.staff_id = ? ORDER BY s.family_name, s.given_name
            """, arguments: [staffID])
    }

    /// Active staff with any of `roles`, at `schoolID` when given.
    static func withAnyRole(_ db: Database, roles: Set<Role>, schoolID: String?) throws -> [StaffRecord] {
        guard !roles.isEmpty else { return [] }
        var sql = """
            SELECT DISTINCT s.id FROM staff s JOIN staff_roles r ON r.staff_id = s.id
            WHERE s.active = 1 AND r.role IN (\(databaseQuestionMarks(count: roles.count)))
            """
        var arguments = StatementArguments(roles.map(\.rawValue))
        if let schoolID {
            sql += " AND s.id IN (SELECT staff_id FROM staff_schools WHERE school_id = ?)"
            arguments += [schoolID]
        }
        sql += " ORDER BY s.display_name"
        return try String.fetchAll(db, sql: sql, arguments: arguments).compactMap { try record(db, id: $0) }
    }

    static func displayName(_ db: Database, id: String) throws -> String {
        try String.fetchOne(db.cachedStatement(sql: "SELECT display_name FROM staff WHERE id = ?"), arguments: [id]) ?? id
    }
}
