import Foundation
import GRDB
import HavenPluginAPI
import HavenStorage

/// OneRoster 1.1 CSV (orgs.csv, users.csv, and where present enrollments.csv
/// and demographics.csv): validated completely, then applied all or nothing.
/// Records are matched by sourcedId, so a re-import updates rather than
/// duplicates; a student missing from a later import is marked inactive,
/// never deleted. Demographics beyond the birth date are not imported
/// (data minimisation: Haven does not need them).
struct OneRosterImport {
    static let files = ["orgs.csv", "users.csv", "enrollments.csv", "demographics.csv"]
    static let orgTypes: Set<String> = ["department", "school", "district", "local", "state", "national"]
    static let userRoles: Set<String> = ["administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher"]
    static let statuses: Set<String> = ["", "active", "tobedeleted"]
    /// CEDS grade levels, as OneRoster 1.1 uses them.
    static let grades: Set<String> = Set(["IT", "PR", "PK", "TK", "KG", "PS", "UG", "Other"] + (1...13).map { String(format: "%02d", $0) })
    static let maxListedProblems = 1000

    struct School { var sourceID: String; var name: String; var identifier: String }
    struct Student { var sourceID: String; var schoolSourceID: String; var givenName: String; var familyName: String; var preferredName: String?; var grade: String; var birthDate: String?; var active: Bool }
    struct StaffMember { var sourceID: String; var displayName: String; var email: String; var role: Role; var schoolSourceIDs: [String]; var active: Bool }

    /// What validation produced: everything needed to write, or the problems.
    struct Plan {
        var schools: [School] = []
        var students: [Student] = []
        var staff: [StaffMember] = []
    }

    struct Counts: Sendable {
        var schoolsAdded = 0, schoolsUpdated = 0
        var studentsAdded = 0, studentsUpdated = 0, studentsDeactivated = 0
        var staffAdded = 0, staffUpdated = 0, staffDeactivated = 0
    }

    /// Validates every file; returns the plan, or every problem found.
    static func validate(_ files: [String: [UInt8]], progress: (String, Int, Int) -> Void) -> Result<Plan, ImportProblems> {
        var problems: [ImportProblem] = []
        for required in ["orgs.csv", "users.csv"] where files[required] == nil {
            problems.append(ImportProblem(file: required, line: 0, column: "", message: "this file is required and was not given"))
        }
        for name in files.keys where !Self.files.contains(name) {
            problems.append(ImportProblem(file: name, line: 0, column: "", message: "not a file Haven imports (it reads \(Self.files.joined(separator: ", ")))"))
        }
        guard problems.isEmpty else { return .failure(ImportProblems(problems)) }

        progress("parsing", 0, files.count)
        var tables: [String: CSVTable] = [:]
        for (i, name) in Self.files.enumerated() {
            guard let bytes = files[name] else { continue }
            if let table = CSVTable.parse(bytes, file: name, problems: &problems) { tables[name] = table }
            progress("parsing", i + 1, files.count)
        }
        guard problems.isEmpty else { return .failure(ImportProblems(problems)) }

        var plan = Plan()
        var reader = RowReader(problems: problems)
        // orgs.csv
        var orgTypeByID: [String: String] = [:]
        if let orgs = tables["orgs.csv"], let c = orgs.columns(required: ["sourcedId", "name", "type"], optional: [], problems: &reader.problems) {
            var seen: Set<String> = []
            for row in orgs.rows {
                guard reader.begin(orgs, row, c) else { continue }
                guard let id = reader.required("sourcedId"), let name = reader.required("name"), let type = reader.required("type") else { continue }
                guard seen.insert(id).inserted else { reader.problem("sourcedId", "\"\(id)\" appears twice in this file"); continue }
                reader.check("status", allowed: statuses)
                guard orgTypes.contains(type) else { reader.problem("type", "expected one of \(orgTypes.sorted().joined(separator: ", ")), found \"\(type)\""); continue }
                orgTypeByID[id] = type
                if type == "school", reader.value("status") != "tobedeleted" {
                    plan.schools.append(School(sourceID: id, name: name, identifier: reader.value("identifier")))
                }
            }
            for row in orgs.rows {
                guard reader.begin(orgs, row, c, silent: true) else { continue }
                let parent = reader.value("parentSourcedId")
                if !parent.isEmpty, orgTypeByID[parent] == nil {
                    reader.problem("parentSourcedId", "\"\(parent)\" is not an org in orgs.csv")
                }
            }
        }
        let schoolIDs = Set(plan.schools.map(\.sourceID))
        progress("validating", 1, 4)

        // demographics.csv: birth dates only.
        var birthDates: [String: String] = [:]
        var userIDs: Set<String> = []
        if let users = tables["users.csv"] {
            let idColumn = users.header.firstIndex(of: "sourcedId")
            if let idColumn { userIDs = Set(users.rows.compactMap { idColumn < $0.fields.count ? $0.fields[idColumn] : nil }) }
        }
        if let demographics = tables["demographics.csv"], let c = demographics.columns(required: ["sourcedId"], optional: [], problems: &reader.problems) {
            for row in demographics.rows {
                guard reader.begin(demographics, row, c), let id = reader.required("sourcedId") else { continue }
                guard userIDs.contains(id) else { reader.problem("sourcedId", "\"\(id)\" is not a user in users.csv"); continue }
                let birth = reader.value("birthDate")
                if !birth.isEmpty {
                    if Self.isDate(birth) { birthDates[id] = birth } else { reader.problem("birthDate", "expected a date as YYYY-MM-DD, found \"\(birth)\"") }
                }
            }
        }

        // enrollments.csv: a fallback for a user's school.
        var enrolledSchool: [String: String] = [:]
        if let enrollments = tables["enrollments.csv"],
           let c = enrollments.columns(required: ["sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"], optional: [], problems: &reader.problems) {
            for row in enrollments.rows {
                guard reader.begin(enrollments, row, c) else { continue }
                guard reader.required("sourcedId") != nil, let user = reader.required("userSourcedId"), let school = reader.required("schoolSourcedId") else { continue }
                reader.check("status", allowed: statuses)
                if !userIDs.contains(user) { reader.problem("userSourcedId", "\"\(user)\" is not a user in users.csv") }
                if !schoolIDs.contains(school) { reader.problem("schoolSourcedId", "\"\(school)\" is not a school in orgs.csv") }
                if enrolledSchool[user] == nil, schoolIDs.contains(school), reader.value("status") != "tobedeleted" { enrolledSchool[user] = school }
            }
        }
        progress("validating", 2, 4)

        // users.csv
        if let users = tables["users.csv"],
           let c = users.columns(required: ["sourcedId", "enabledUser", "orgSourcedIds", "role", "username", "givenName", "familyName"], optional: [], problems: &reader.problems) {
            var seen: Set<String> = []
            for row in users.rows {
                guard reader.begin(users, row, c) else { continue }
                guard let id = reader.required("sourcedId"), let role = reader.required("role") else { continue }
                guard seen.insert(id).inserted else { reader.problem("sourcedId", "\"\(id)\" appears twice in this file"); continue }
                reader.check("status", allowed: statuses)
                guard userRoles.contains(role) else { reader.problem("role", "expected one of \(userRoles.sorted().joined(separator: ", ")), found \"\(role)\""); continue }
                let enabled = reader.value("enabledUser")
                guard enabled == "true" || enabled == "false" else { reader.problem("enabledUser", "expected true or false, found \"\(enabled)\""); continue }
                let orgs = reader.list("orgSourcedIds")
                for org in orgs where orgTypeByID[org] == nil { reader.problem("orgSourcedIds", "\"\(org)\" is not an org in orgs.csv") }
                let email = reader.value("email")
                if !email.isEmpty, !email.contains("@") { reader.problem("email", "\"\(email)\" is not an email address") }
                let active = reader.value("status") != "tobedeleted" && enabled == "true"
                switch role {
                case "student":
                    guard let given = reader.required("givenName"), let family = reader.required("familyName") else { continue }
                    let grades = reader.list("grades")
                    for grade in grades where !Self.grades.contains(grade) {
                        reader.problem("grades", "\"\(grade)\" is not a CEDS grade level (KG, 01–13, PK, ...)")
                    }
                    guard let school = orgs.first(where: { schoolIDs.contains($0) }) ?? enrolledSchool[id] else {
                        reader.problem("orgSourcedIds", "the student is in no school: list a school org here or enrol them at one")
                        continue
                    }
                    let preferred = reader.value("preferredFirstName")
                    plan.students.append(Student(sourceID: id, schoolSourceID: school, givenName: given, familyName: family,
                                                 preferredName: preferred.isEmpty ? nil : preferred, grade: grades.first ?? "",
                                                 birthDate: birthDates[id], active: active))
                case "teacher", "administrator", "aide", "proctor":
                    guard let given = reader.required("givenName"), let family = reader.required("familyName") else { continue }
                    plan.staff.append(StaffMember(sourceID: id, displayName: "\(given) \(family)", email: email,
                                                  role: role == "administrator" ? .administrator : .teacher,
                                                  schoolSourceIDs: orgs.filter { schoolIDs.contains($0) }, active: active))
                default:
                    continue  // guardians, parents and relatives are not imported
                }
            }
        }
        progress("validating", 4, 4)
        return reader.problems.isEmpty ? .success(plan) : .failure(ImportProblems(reader.problems))
    }

    static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), (1...31).contains(d), y > 1900 else { return false }
        var components = DateComponents(year: y, month: m, day: d)
        components.calendar = Calendar(identifier: .gregorian)
        return components.isValidDate
    }

    /// Writes the plan in the current transaction. `progress` is called as rows are written.
    static func apply(_ plan: Plan, db: Database, node: String, now: Int64, progress: (Int, Int) -> Void) throws -> Counts {
        var counts = Counts()
        let total = plan.schools.count + plan.students.count + plan.staff.count
        var done = 0

        // Schools.
        var schoolIDBySource: [String: String] = [:]
        var existingSchools: [String: (id: String, name: String, identifier: String, active: Bool)] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT id, source_id, name, identifier, active FROM schools WHERE source_id IS NOT NULL")) {
            existingSchools[row["source_id"]] = (row["id"], row["name"], row["identifier"], row["active"])
        }
        for school in plan.schools {
            if let existing = existingSchools[school.sourceID] {
                schoolIDBySource[school.sourceID] = existing.id
                if existing.name != school.name || existing.identifier != school.identifier || !existing.active {
                    try db.executeCached("UPDATE schools SET name = ?, identifier = ?, active = 1, updated_at = ? WHERE id = ?", [school.name, school.identifier, now, existing.id])
                    counts.schoolsUpdated += 1
                }
            } else {
                let id = RecordID.make()
                try StudentStore.insertSchool(db, id: id, sourceID: school.sourceID, name: school.name, identifier: school.identifier, node: node, now: now)
                schoolIDBySource[school.sourceID] = id
                counts.schoolsAdded += 1
            }
            done += 1
        }
        let importedSchools = Set(plan.schools.map(\.sourceID))
        for (source, existing) in existingSchools where !importedSchools.contains(source) && existing.active {
            try db.executeCached("UPDATE schools SET active = 0, updated_at = ? WHERE id = ?", [now, existing.id])
        }

        // Students.
        struct Existing { var id: String; var school: String; var given: String; var family: String; var preferred: String?; var grade: String; var birth: String?; var active: Bool }
        var existingStudents: [String: Existing] = [:]
        existingStudents.reserveCapacity(plan.students.count)
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT id, source_id, school_id, given_name, family_name, preferred_name, grade, birth_date, active FROM students WHERE source_id IS NOT NULL")) {
            existingStudents[row["source_id"]] = Existing(
                id: row["id"], school: row["school_id"], given: row["given_name"], family: row["family_name"],
                preferred: row["preferred_name"], grade: row["grade"], birth: row["birth_date"], active: row["active"])
        }
        let insert = try db.makeStatement(sql: """
            INSERT INTO students (id, source_id, school_id, given_name, family_name, preferred_name, grade, birth_date, active, origin_node, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let update = try db.makeStatement(sql: """
            UPDATE students SET school_id = ?, given_name = ?, family_name = ?, preferred_name = ?, grade = ?, birth_date = ?, active = ?, updated_at = ?
            WHERE id = ?
            """)
        var seenStudents: Set<String> = []
        seenStudents.reserveCapacity(plan.students.count)
        for student in plan.students {
            let school = schoolIDBySource[student.schoolSourceID]!
            seenStudents.insert(student.sourceID)
            if let e = existingStudents[student.sourceID] {
                if e.school != school || e.given != student.givenName || e.family != student.familyName || e.preferred != student.preferredName
                    || e.grade != student.grade || e.birth != student.birthDate || e.active != student.active {
                    try update.execute(arguments: [school, student.givenName, student.familyName, student.preferredName, student.grade,
                                                   student.birthDate, student.active, now, e.id])
                    if e.active && !student.active { counts.studentsDeactivated += 1 } else { counts.studentsUpdated += 1 }
                }
            } else {
                try insert.execute(arguments: [RecordID.make(), student.sourceID, school, student.givenName, student.familyName,
                                               student.preferredName, student.grade, student.birthDate, student.active, node, now, now])
                counts.studentsAdded += 1
            }
            done += 1
            if done % 5000 == 0 { progress(done, total) }
        }
        let deactivate = try db.makeStatement(sql: "UPDATE students SET active = 0, updated_at = ? WHERE id = ?")
        for (source, e) in existingStudents where e.active && !seenStudents.contains(source) {
            try deactivate.execute(arguments: [now, e.id])
            counts.studentsDeactivated += 1
        }

        // Staff: new accounts take their roster role; existing ones keep the
        // roles Haven gave them, and get their schools from the roster.
        var existingStaff: [String: (id: String, name: String, email: String, active: Bool)] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT id, source_id, display_name, email, active FROM staff WHERE source_id IS NOT NULL")) {
            existingStaff[row["source_id"]] = (row["id"], row["display_name"], row["email"], row["active"])
        }
        var seenStaff: Set<String> = []
        for member in plan.staff {
            seenStaff.insert(member.sourceID)
            let schools = member.schoolSourceIDs.compactMap { schoolIDBySource[$0] }
            if let e = existingStaff[member.sourceID] {
                let oldSchools = try StaffStore.schools(db, staffID: e.id)
                if e.name != member.displayName || e.email != member.email || e.active != member.active || oldSchools != Set(schools).sorted() {
                    try db.executeCached("UPDATE staff SET display_name = ?, email = ?, active = ?, updated_at = ? WHERE id = ?", [member.displayName, member.email, member.active, now, e.id])
                    try StaffStore.setSchools(db, staffID: e.id, schoolIDs: schools)
                    if e.active && !member.active { counts.staffDeactivated += 1 } else { counts.staffUpdated += 1 }
                }
            } else {
                let id = RecordID.make()
                try StaffStore.insert(db, id: id, sourceID: member.sourceID, displayName: member.displayName, email: member.email, node: node, now: now)
                if !member.active { try StaffStore.setActive(db, staffID: id, active: false, now: now) }
                try StaffStore.setRoles(db, staffID: id, roles: [member.role])
                try StaffStore.setSchools(db, staffID: id, schoolIDs: schools)
                counts.staffAdded += 1
            }
            done += 1
        }
        for (source, e) in existingStaff where e.active && !seenStaff.contains(source) {
            try StaffStore.setActive(db, staffID: e.id, active: false, now: now)
            counts.staffDeactivated += 1
        }
        progress(total, total)
        return counts
    }
}

/// Reads the fields of one row by column name, collecting problems.
struct RowReader {
    var problems: [ImportProblem]
    private var table: CSVTable?
    private var fields: [String] = []
    private var line = 0
    private var columns: [String: Int] = [:]

    init(problems: [ImportProblem]) { self.problems = problems }

    /// Starts a row; a row with the wrong number of fields is a problem.
    mutating func begin(_ table: CSVTable, _ row: (line: Int, fields: [String]), _ columns: [String: Int], silent: Bool = false) -> Bool {
        self.table = table
        self.fields = row.fields
        self.line = row.line
        self.columns = columns
        if row.fields.count != table.header.count {
            if !silent {
                problems.append(ImportProblem(file: table.file, line: row.line, column: "",
                                              message: "expected \(table.header.count) fields (as in the header), found \(row.fields.count)"))
            }
            return false
        }
        return true
    }

    func value(_ column: String) -> String {
        guard let i = columns[column], i < fields.count else { return "" }
        return fields[i].trimmingCharacters(in: .whitespaces)
    }

    mutating func required(_ column: String) -> String? {
        let v = value(column)
        if v.isEmpty {
            problem(column, "a value is required")
            return nil
        }
        return v
    }

    /// A comma-separated list inside one field.
    func list(_ column: String) -> [String] {
        value(column).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    mutating func check(_ column: String, allowed: Set<String>) {
        let v = value(column)
        if !allowed.contains(v) { problem(column, "expected one of \(allowed.filter { !$0.isEmpty }.sorted().joined(separator: ", ")) or empty, found \"\(v)\"") }
    }

    mutating func problem(_ column: String, _ message: String) {
        problems.append(ImportProblem(file: table?.file ?? "", line: line, column: column, message: message))
    }
}

/// Every problem found in an import (it is refused as a whole).
struct ImportProblems: Error {
    var problems: [ImportProblem]
    init(_ problems: [ImportProblem]) { self.problems = problems }
}
