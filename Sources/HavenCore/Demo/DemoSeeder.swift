import Foundation
import GRDB
import HavenPluginAPI
import HavenStorage
import Logging

/// Seeds a fresh database with a small synthetic school district, so a new
/// user can try Haven in a minute. Every name is made up: no real person's
/// data is ever in the repository or the demo.
public struct DemoSeeder: Sendable {
    let core: CoreModule
    let logger: Logger

    public init(core: CoreModule, logger: Logger) {
        self.core = core
        self.logger = logger
    }

    static let givenNames = ["Ava", "Noah", "Mia", "Liam", "Zoe", "Ethan", "Isla", "Mateo", "Aria", "Leo", "Nora", "Kai",
                             "Luna", "Omar", "Ivy", "Jonah", "Maya", "Felix", "Rosa", "Theo", "Lena", "Amir", "Hana", "Caleb",
                             "Elena", "Sami", "Wren", "Diego", "Nia", "Owen"]
    static let familyNames = ["Alder", "Birchwood", "Calloway", "Dunmore", "Everly", "Fairbank", "Greenhill", "Hollis",
                              "Ironwood", "Juniper", "Kestrel", "Larkspur", "Merriweather", "Northcott", "Oakridge",
                              "Pembrook", "Quill", "Redfern", "Stillwater", "Thornbury"]

    /// Demo staff: name, roles, school index (nil = district), whether the
    /// person running the demo is linked to this account.
    static let staff: [(name: String, roles: Set<Role>, school: Int?, operatorAccount: Bool)] = [
        ("Alex Rivera", [.counselor, .admin], 0, true),
        ("Sam Okafor", [.teacher], 0, false),
        ("Priya Natarajan", [.administrator], 0, false),
        ("Morgan Lee", [.nurse], 0, false),
        ("Jordan Blake", [.sro], 0, false),
        ("Taylor Brooks", [.counselor], 1, false),
        ("Riley Chen", [.socialWorker, .psychologist], 1, false),
        ("Drew Park", [.administrator], 1, false),
        ("Jamie Fox", [.teacher], 1, false),
        ("Casey Quinn", [.analyst], nil, false),
    ]

    /// Seeds only into an empty database; returns whether it did.
    @discardableResult
    public func seedIfEmpty(operatorUID: UInt32 = getuid()) async throws -> Bool {
        let core = self.core
        let now = core.clock.now()
        let seeded: Bool = try await core.database.writer.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM students") == 0 else { return false }
            let node = core.nodeID
            let ms = StoredTime.ms(now)
            let schools = [("Riverside Middle School", "RMS", ["06", "07", "08"]), ("Hillcrest High School", "HHS", ["09", "10", "11", "12"])]
            var schoolIDs: [String] = []
            for (name, code, _) in schools {
                let id = RecordID.make(at: now)
                try StudentStore.insertSchool(db, id: id, sourceID: "demo-\(code)", name: name, identifier: code, node: node, now: ms)
                schoolIDs.append(id)
            }
            var studentsBySchool: [[StudentRecord]] = [[], []]
            var n = 0
            for (s, (_, code, grades)) in schools.enumerated() {
                for i in 0..<30 {
                    let given = Self.givenNames[(i * 7 + s * 3) % Self.givenNames.count]
                    let family = Self.familyNames[(i * 11 + s * 5) % Self.familyNames.count]
                    let id = RecordID.make(at: now)
                    let grade = grades[i % grades.count]
                    n += 1
                    try StudentStore.insertStudent(db, id: id, sourceID: "demo-\(code)-S\(1000 + i)", schoolID: schoolIDs[s], givenName: given,
                                                   familyName: family, preferredName: nil, grade: grade, birthDate: nil, node: node, now: ms)
                    studentsBySchool[s].append(try StudentStore.student(db, id: id)!)
                }
            }
            var staffIDs: [String: String] = [:]
            for member in Self.staff {
                let id = RecordID.make(at: now)
                let email = member.name.lowercased().replacingOccurrences(of: " ", with: ".") + "@demo.haven.invalid"
                try StaffStore.insert(db, id: id, sourceID: nil, displayName: member.name, email: email, node: node, now: ms)
                try StaffStore.setRoles(db, staffID: id, roles: member.roles)
                try StaffStore.setSchools(db, staffID: id, schoolIDs: member.school.map { [schoolIDs[$0]] } ?? [])
                if member.operatorAccount, try StaffStore.staffID(forUID: operatorUID, db) == nil {
                    try StaffStore.link(db, uid: operatorUID, staffID: id)
                }
                staffIDs[member.name] = id
            }
            // Caseloads: each counselor-level person has their school's students.
            for student in studentsBySchool[0] {
                try StaffStore.assign(db, staffID: staffIDs["Alex Rivera"]!, studentID: student.id, by: core.localAdminStaffID, now: ms)
            }
            for student in studentsBySchool[0].prefix(10) {
                try StaffStore.assign(db, staffID: staffIDs["Morgan Lee"]!, studentID: student.id, by: core.localAdminStaffID, now: ms)
            }
            for student in studentsBySchool[1] {
                try StaffStore.assign(db, staffID: staffIDs["Taylor Brooks"]!, studentID: student.id, by: core.localAdminStaffID, now: ms)
                try StaffStore.assign(db, staffID: staffIDs["Riley Chen"]!, studentID: student.id, by: core.localAdminStaffID, now: ms)
            }
            // A few weeks of concerns, as staff would write them.
            let concerns: [(school: Int, student: Int, reporter: String, category: String, severity: String, daysAgo: Double, text: String)] = [
                (0, 3, "Sam Okafor", "withdrawal_mood", "low", 20, "Quiet all week, sitting alone at lunch, not handing in work."),
                (0, 3, "Sam Okafor", "withdrawal_mood", "moderate", 12, "Still withdrawn; put head down in every class and said 'what's the point'."),
                (0, 7, "Morgan Lee", "physical_health", "low", 15, "Third visit this month with stomach aches before tests."),
                (0, 11, "Sam Okafor", "bullying", "moderate", 9, "Other students took phone and posted a photo in a group chat."),
                (0, 5, "Priya Natarajan", "attendance", "low", 8, "Absent 6 of the last 10 days; family not answering calls."),
                (1, 2, "Jamie Fox", "substance_use", "moderate", 7, "Smelled of cannabis after lunch; seemed drowsy in class."),
                (1, 9, "Jamie Fox", "family_home", "moderate", 6, "Said they are staying with an aunt because things at home are bad."),
                (1, 14, "Drew Park", "threat_of_violence", "high", 4, "Overheard saying they would 'get' another student after school."),
                (0, 20, "Sam Okafor", "self_harm_suicide", "high", 2, "Wrote in a journal assignment that nobody would miss them."),
            ]
            for c in concerns {
                let student = studentsBySchool[c.school][c.student]
                let at = now.addingTimeInterval(-c.daysAgo * 86_400)
                let id = RecordID.make(at: at)
                let reporter = staffIDs[c.reporter]!
                try ConcernStore.insert(db, .init(
                    id: id, incidentID: id, student: student, reporterID: reporter, category: c.category, severity: c.severity,
                    narrative: c.text, observedAt: StoredTime.ms(at), location: "", toldLead: "", createdAt: StoredTime.ms(at), node: node))
                try core.publish(NewEvent(type: "concern.created", studentID: student.id, schoolID: student.schoolID, subjectID: id,
                                          attributes: ["category": c.category, "severity": c.severity, "grade": student.grade,
                                                       "reporter_id": reporter, "incident_id": id]), db: db)
            }
            // A term's worth of everyday concerns, so reports have something to
            // show. These categories and severities route to nobody.
            let everyday = ["withdrawal_mood", "attendance", "bullying", "physical_health", "family_home"]
            let teachers = ["Sam Okafor", "Jamie Fox"]
            var bulk = 0
            for i in 0..<240 {
                let school = i % 3 == 0 ? 1 : 0
                let student = studentsBySchool[school][(i * 7) % studentsBySchool[school].count]
                let at = now.addingTimeInterval(-Double((i * 37) % 90) * 86_400 - Double(i % 24) * 3600)
                let category = everyday[(i * i + i / 7) % everyday.count]
                let id = RecordID.make(at: at)
                try ConcernStore.insert(db, .init(
                    id: id, incidentID: id, student: student, reporterID: staffIDs[teachers[school]]!, category: category,
                    severity: i % 4 == 0 ? "moderate" : "low", narrative: "Synthetic demo concern.", observedAt: StoredTime.ms(at),
                    location: "", toldLead: "", createdAt: StoredTime.ms(at), node: node))
                bulk += 1
            }
            try core.auditSystem(AuditRecord(action: "demo.seed", purpose: "\(n) synthetic students, \(Self.staff.count) staff, \(concerns.count + bulk) concerns"), db: db)
            return true
        }
        if seeded {
            logger.notice("seeded synthetic demo data", metadata: ["operator_uid": "\(operatorUID)", "linked_to": "Alex Rivera (counselor, admin)"])
        }
        return seeded
    }
}
