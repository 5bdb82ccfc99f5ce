import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage

/// SQL for schools and students.
enum StudentStore {
    static let columns = "s.id, s.source_id, s.given_name, s.family_name, s.preferred_name, s.grade, s.school_id, s.active, s.birth_date, s.origin_node, sc.name AS school_name"

    /// The record's columns, the first eight of `columns`, read by position.
    private static func record(_ row: DirectRow) -> StudentRecord {
        StudentRecord(id: row.text(0), sourceID: row.optionalText(1), givenName: row.text(2), familyName: row.text(3),
                      preferredName: row.optionalText(4), grade: row.text(5), schoolID: row.text(6), active: row.int64(7) != 0)
    }

    static func message(_ row: Row) -> Haven_V1_Student {
        Haven_V1_Student.with {
            $0.id = row["id"]
            $0.sourceID = row["source_id"] ?? ""
            $0.givenName = row["given_name"]
            $0.familyName = row["family_name"]
            $0.preferredName = row["preferred_name"] ?? ""
            $0.grade = row["grade"]
            $0.schoolID = row["school_id"]
            $0.schoolName = row["school_name"] ?? ""
            $0.active = row["active"] as Bool
            $0.birthDate = row["birth_date"] ?? ""
            $0.originNode = row["origin_node"]
        }
    }

    /// A student's record and message, by Haven id or roster sourcedId, read
    /// by column position (a student's page and every timeline read one).
    static func recordAndMessage(_ db: Database, id: String) throws -> (record: StudentRecord, message: Haven_V1_Student)? {
        try db.fetchFirstBound("""
            SELECT \(columns) FROM students s LEFT JOIN schools sc ON sc.id = s.school_id
            WHERE s.id = ? OR s.source_id = ? LIMIT 1
            """, id, id) { row in
            let record = record(row)
            return (record, Haven_V1_Student.with {
                $0.id = record.id
                $0.sourceID = record.sourceID ?? ""
                $0.givenName = record.givenName
                $0.familyName = record.familyName
                $0.preferredName = record.preferredName ?? ""
                $0.grade = record.grade
                $0.schoolID = record.schoolID
                $0.active = record.active
                $0.birthDate = row.optionalText(8) ?? ""
                $0.originNode = row.text(9)
                $0.schoolName = row.optionalText(10) ?? ""
            })
        }
    }

    /// The writer reads a student for every concern it saves: only the
    /// record's columns, read by position (a lookup by name lower-cases it).
    static func student(_ db: Database, id: String) throws -> StudentRecord? {
        try db.fetchFirstBound("""
            SELECT id, source_id, given_name, family_name, preferred_name, grade, school_id, active
            FROM students WHERE id = ? OR source_id = ? LIMIT 1
            """, id, id, read: record)
    }

    /// Name search with FTS5: every word must prefix-match a name.
    static func find(_ db: Database, text: String, schoolIDs: [String]?, limit: Int, includeInactive: Bool) throws -> [Row] {
        let words = text.lowercased()
            .split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "'" && $0 != "-" })
            .map { $0.replacingOccurrences(of: "\"", with: "") }
            .filter { !$0.isEmpty }
        guard !words.isEmpty else { return [] }
        let match = words.map { "\"\($0)\"*" }.joined(separator: " AND ")
        var sql = """
            SELECT \(columns) FROM students_fts f
            JOIN students s ON s.rowid = f.rowid
            LEFT JOIN schools sc ON sc.id = s.school_id
            WHERE students_fts MATCH ?
            """
        var arguments: StatementArguments = [match]
        if !includeInactive { sql += " AND s.active = 1" }
        if let schoolIDs {
            guard !schoolIDs.isEmpty else { return [] }
            sql += " AND s.school_id IN (\(databaseQuestionMarks(count: schoolIDs.count)))"
            arguments += StatementArguments(schoolIDs)
        }
        sql += " ORDER BY rank, s.family_name, s.given_name LIMIT ?"
        arguments += [limit]
        return try Row.fetchAll(db, sql: sql, arguments: arguments)
    }

    static func insertSchool(_ db: Database, id: String, sourceID: String?, name: String, identifier: String, node: String, now: Int64) throws {
        try db.executeCached("""
            INSERT INTO schools (id, source_id, name, identifier, active, origin_node, created_at, updated_at)
            VALUES (?, ?, ?, ?, 1, ?, ?, ?)
            """, [id, sourceID, name, identifier, node, now, now])
    }

    static func insertStudent(
        _ db: Database, id: String, sourceID: String?, schoolID: String, givenName: String, familyName: String,
        preferredName: String?, grade: String, birthDate: String?, node: String, now: Int64
    ) throws {
        try db.executeCached("""
            INSERT INTO students (id, source_id, school_id, given_name, family_name, preferred_name, grade, birth_date, active, origin_node, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
            """, [id, sourceID, schoolID, givenName, familyName, preferredName, grade, birthDate, node, now, now])
    }

    static func schoolName(_ db: Database, id: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT name FROM schools WHERE id = ?"), arguments: [id])
    }

    static func schoolExists(_ db: Database, id: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM schools WHERE id = ?)"), arguments: [id]) ?? false
    }
}
