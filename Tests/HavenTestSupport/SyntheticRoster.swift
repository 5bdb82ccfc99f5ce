import Foundation

/// A made-up OneRoster 1.1 CSV export: schools, students, teachers and an
/// administrator per school. Names are generated; no real person appears.
public struct SyntheticRoster {
    public var orgs: String
    public var users: String
    public var enrollments: String
    public var demographics: String

    public var files: [String: String] {
        ["orgs.csv": orgs, "users.csv": users, "enrollments.csv": enrollments, "demographics.csv": demographics]
    }

    static let given = ["Ava", "Noah", "Mia", "Liam", "Zoe", "Ethan", "Isla", "Mateo", "Aria", "Leo", "Nora", "Kai", "Luna", "Omar", "Ivy"]
    static let family = ["Alder", "Birchwood", "Calloway", "Dunmore", "Everly", "Fairbank", "Greenhill", "Hollis", "Ironwood", "Juniper", "Kestrel"]

    /// `schools` schools with `studentsPerSchool` students each; student
    /// sourcedIds are "stu-<school>-<n>", schools "sch-<n>", staff "tch-<school>-<n>" and "adm-<school>".
    public static func make(schools: Int, studentsPerSchool: Int, teachersPerSchool: Int = 2, skipStudents: Set<String> = []) -> SyntheticRoster {
        var orgs = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
        orgs += "dist-1,,,Demo Unified School District,district,DUSD,\n"
        var users = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
        var enrollments = "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n"
        var demographics = "sourcedId,status,dateLastModified,birthDate,sex\n"
        let grades = ["06", "07", "08", "09", "10", "11", "12"]
        for s in 1...schools {
            orgs += "sch-\(s),,,School Number \(s),school,S\(s),dist-1\n"
            for n in 1...studentsPerSchool {
                let id = "stu-\(s)-\(n)"
                if skipStudents.contains(id) { continue }
                let g = given[(n + s) % given.count], f = family[(n * 7 + s) % family.count]
                users += "\(id),,,true,sch-\(s),student,\(id),,\(g),\(f),,\(id),,,,,\(grades[n % grades.count]),\n"
                demographics += "\(id),,,20\(10 + n % 5)-0\(1 + n % 9)-1\(n % 10),\n"
            }
            for t in 1...teachersPerSchool {
                users += "tch-\(s)-\(t),,,true,sch-\(s),teacher,tch-\(s)-\(t),,Teacher\(t),School\(s),,,teacher\(t).s\(s)@example.invalid,,,,,\n"
                enrollments += "enr-\(s)-\(t),,,class-\(s)-\(t),sch-\(s),tch-\(s)-\(t),teacher,true,,\n"
            }
            users += "adm-\(s),,,true,sch-\(s),administrator,adm-\(s),,Principal,School\(s),,,principal.s\(s)@example.invalid,,,,,\n"
        }
        return SyntheticRoster(orgs: orgs, users: users, enrollments: enrollments, demographics: demographics)
    }
}
