import Foundation
import GRDB
import HavenProto
import HavenRPCClient
import HavenTestSupport
import Testing

@Suite(.serialized) struct RosterImportTests {
    @Test func importsSchoolsStudentsAndStaffAndReimportUpdatesInPlace() async throws {
        let h = try await CoreHarness.start()
        let first = try await h.importRoster(SyntheticRoster.make(schools: 2, studentsPerSchool: 25).files)
        #expect(first.applied)
        #expect(first.schoolsAdded == 2)
        #expect(first.studentsAdded == 50)
        #expect(first.staffAdded == 6)
        let student = try await h.student("stu-1-3")
        #expect(!student.birthDate.isEmpty)
        #expect(student.grade == "09")

        // The same files again: nothing added, nothing changed.
        let again = try await h.importRoster(SyntheticRoster.make(schools: 2, studentsPerSchool: 25).files)
        #expect(again.applied && again.studentsAdded == 0 && again.studentsUpdated == 0)

        // A student missing from the next import is inactive, never deleted.
        var next = SyntheticRoster.make(schools: 2, studentsPerSchool: 25, skipStudents: ["stu-1-3"])
        next.users = next.users.replacingOccurrences(of: ",Aria,", with: ",Arianna,")
        let third = try await h.importRoster(next.files)
        #expect(third.studentsDeactivated == 1)
        #expect(third.studentsUpdated > 0)
        let gone = try await h.student("stu-1-3")
        #expect(!gone.active)
        #expect(gone.id == student.id, "the same record, matched by sourcedId")
        await h.stop()
    }

    @Test func aBadFileGetsEveryProblemAndChangesNothing() async throws {
        let h = try await CoreHarness.start()
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 5).files)
        let before = try await h.student("stu-1-1")
        var bad = SyntheticRoster.make(schools: 1, studentsPerSchool: 5)
        bad.users += "stu-bad-1,,,true,sch-9,student,x,,Ghost,Pupil,,,,,,,05,\n"          // unknown org
        bad.users += "stu-bad-2,,,maybe,sch-1,student,y,,Lost,Pupil,,,,,,,07,\n"       // enabledUser
        bad.users += "stu-bad-3,,,true,sch-1,pupil,z,,Odd,Role,,,,,,,07,\n"           // role
        bad.users += "stu-bad-4,,,true,sch-1,student,w,,Grade,Pupil,,,,,,,Y7,\n"      // grade
        bad.users += "stu-bad-5,,,true,sch-1,student\n"                               // short row
        bad.users += "stu-1-1,,,true,sch-1,student,dup,,Twin,Pupil,,,,,,,07,\n"       // duplicate id
        bad.users = bad.users.replacingOccurrences(of: ",Mia,", with: ",,")          // a missing given name
        bad.demographics += "stu-1-2,,,2012-13-40,\n"
        let report = try await h.importRoster(bad.files)
        #expect(!report.applied)
        let described = report.problems.map { "\($0.file):\($0.line):\($0.column)" }
        #expect(report.problems.allSatisfy { $0.line > 0 && !$0.message.isEmpty })
        for column in ["orgSourcedIds", "enabledUser", "role", "grades", "sourcedId", "birthDate", "givenName"] {
            #expect(report.problems.contains { $0.column == column }, "expected a problem in column \(column): \(described)")
        }
        #expect(report.problems.contains { $0.message.contains("expected 18 fields") })
        #expect(report.problems.contains { $0.message.contains("\"sch-9\" is not an org in orgs.csv") })
        // Nothing changed.
        let after = try await h.student("stu-1-1")
        #expect(after == before)
        let find: Haven_V1_FindStudentsResponse = try await h.admin.unary("haven.v1.Students", "Find", Haven_V1_FindStudentsRequest.with { $0.text = "Ghost" })
        #expect(find.students.isEmpty)
        await h.stop()
    }

    @Test func syntaxErrorsAndMissingColumnsAndFiles() async throws {
        let h = try await CoreHarness.start()
        var roster = SyntheticRoster.make(schools: 1, studentsPerSchool: 2)
        roster.orgs = roster.orgs.replacingOccurrences(of: "School Number 1", with: "\"School \"Number\" 1")
        var r = try await h.importRoster(roster.files)
        #expect(!r.applied)
        #expect(r.problems.first?.file == "orgs.csv")
        #expect(r.problems.first?.line == 3)

        // A zero byte (a spreadsheet's own format, not CSV) is refused at its line.
        roster = SyntheticRoster.make(schools: 1, studentsPerSchool: 2)
        roster.orgs = roster.orgs.replacingOccurrences(of: "School Number 1", with: "School\u{0}Number 1")
        r = try await h.importRoster(roster.files)
        #expect(!r.applied)
        #expect(r.problems.first?.file == "orgs.csv")
        #expect(r.problems.first?.line == 3)
        #expect(r.problems.first?.message.contains("NUL") == true)

        roster = SyntheticRoster.make(schools: 1, studentsPerSchool: 2)
        roster.users = roster.users.replacingOccurrences(of: "givenName,", with: "firstName,")
        r = try await h.importRoster(roster.files)
        #expect(r.problems.contains { $0.file == "users.csv" && $0.line == 1 && $0.column == "givenName" })

        r = try await h.importRoster(["users.csv": roster.users])
        #expect(r.problems.contains { $0.file == "orgs.csv" && $0.message.contains("required") })
        await h.stop()
    }

    @Test func quotedFieldsWithCommasAndNewlinesParse() async throws {
        let h = try await CoreHarness.start()
        var roster = SyntheticRoster.make(schools: 1, studentsPerSchool: 2)
        roster.orgs = "\u{FEFF}" + roster.orgs.replacingOccurrences(of: "School Number 1", with: "\"St. Mary's, \"\"the\"\" school\"")
        roster.users += "stu-q-1,,,true,sch-1,student,q,,\"Anne\nMarie\",\"O'Neil, Jr\",,,,,,,\"07,08\",\n"
        roster.users = roster.users.replacingOccurrences(of: "\n", with: "\r\n")
        let r = try await h.importRoster(roster.files)
        #expect(r.applied, "\(r.problems)")
        let s = try await h.student("stu-q-1")
        #expect(s.givenName == "Anne\r\nMarie" || s.givenName == "Anne\nMarie")
        #expect(s.familyName == "O'Neil, Jr")
        #expect(s.grade == "07")
        #expect(s.schoolName == "St. Mary's, \"the\" school")
        await h.stop()
    }

    @Test func nameSearchUsesFullTextAcrossTheRoster() async throws {
        let h = try await CoreHarness.start()
        try await h.importRoster(SyntheticRoster.make(schools: 2, studentsPerSchool: 30).files)
        let r: Haven_V1_FindStudentsResponse = try await h.admin.unary("haven.v1.Students", "Find", Haven_V1_FindStudentsRequest.with { $0.text = "ar ald" })
        #expect(!r.students.isEmpty)
        #expect(r.students.allSatisfy { $0.givenName.lowercased().hasPrefix("ar") && $0.familyName.lowercased().hasPrefix("ald") })
        await h.stop()
    }

    @Test func onlyAdminsImport() async throws {
        let h = try await CoreHarness.start()
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 2).files)
        let teacher = try await h.client(as: try await h.addStaff("T", [.teacher], schools: []))
        let status = await statusOf { _ = try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 2).files, as: teacher) }
        #expect(status?.code == .permissionDenied)
        await h.stop()
    }
}
