import Foundation
import GRDB
import HavenPluginAPI
import HavenStorage
import HavenLocking
import HavenTime

/// Decides, on every call, what a caller may see of a student's records:
/// role *and* assignment. The order of checks is the order of the privacy
/// notice (Docs/privacy.md): role scope (caseload, school, district), then a
/// grant, then emergency access, then assignments from plugins (a referral),
/// and otherwise only what the caller reported.
public final class AccessPolicy: Sendable {
    public let settings: CoreSettings
    private let providers = Locked<[any AssignmentProvider]>([])

    public init(settings: CoreSettings) {
        self.settings = settings
    }

    public func register(_ provider: any AssignmentProvider) {
        providers.withLock { $0.append(provider) }
    }

    static let counselorLevel: Set<Role> = [.counselor, .socialWorker, .psychologist]

    /// Staff who may create and revoke grants.
    static let grantors: Set<Role> = [.admin, .administrator, .counselor, .socialWorker, .psychologist]

    public func decide(_ caller: Caller, studentID: String, db: Database, now: Date) throws -> AccessDecision {
        guard let staffID = caller.staffID else {
            return AccessDecision(scope: .none, basis: "", explanation: "this caller is not linked to a staff account, so it sees no student records")
        }
        guard let student = try StudentStore.student(db, id: studentID) else {
            return AccessDecision(scope: .none, basis: "", explanation: "there is no student \(studentID)")
        }
        let nowMS = StoredTime.ms(now)
        // An analyst sees aggregates only: no grant, assignment or emergency opens a record to them.
        if caller.roles.subtracting([.analyst]).isEmpty {
            return AccessDecision(scope: .none, basis: "", explanation: try denialExplanation(caller, student, db))
        }

        // 1. Role scope, broadest first.
        let scopes = Set(caller.roles.map { settings.scope(of: $0) })
        if scopes.contains(.district) {
            return AccessDecision(scope: .full, basis: "district", explanation: "your role sees every student in the district")
        }
        if scopes.contains(.school) {
            if try StaffStore.lists(db, staffID: staffID, schoolID: student.schoolID) {
                return AccessDecision(scope: .full, basis: "school", detail: student.schoolID, explanation: "your role sees every student at your schools")
            }
        }
        if scopes.contains(.caseload), try StaffStore.isOnCaseload(db, staffID: staffID, studentID: student.id) {
            return AccessDecision(scope: .full, basis: "caseload", explanation: "\(student.displayName) is on your caseload")
        }

        // 2. A grant.
        if let grant = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT g.id, g.expires_at, g.purpose FROM grants g
            LEFT JOIN grant_revocations r ON r.grant_id = g.id
            WHERE g.grantee_id = ? AND g.student_id = ? AND r.grant_id IS NULL AND g.expires_at > ?
            ORDER BY g.expires_at DESC LIMIT 1
            """), arguments: [staffID, student.id, nowMS]) {
            let until = RFC3339.wholeSeconds(ms: grant["expires_at"])
            return AccessDecision(
                scope: .full, basis: "grant", detail: "grant \(grant["id"] as String) until \(until) (purpose: \(grant["purpose"] as String))",
                explanation: "you hold a grant for \(student.displayName) until \(until)")
        }

        // 3. Emergency access.
        if let emergency = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT id, expires_at FROM emergency_access
            WHERE staff_id = ? AND student_id = ? AND expires_at > ? ORDER BY expires_at DESC LIMIT 1
            """), arguments: [staffID, student.id, nowMS]) {
            let until = RFC3339.wholeSeconds(ms: emergency["expires_at"])
            return AccessDecision(
                scope: .full, basis: "emergency", detail: "emergency access \(emergency["id"] as String) until \(until)",
                explanation: "you opened emergency access to \(student.displayName) until \(until)")
        }

        // 4. Assignments made by plugins (referral recipients, escalation chains).
        for provider in providers.withLock({ $0 }) {
            if let reason = try provider.assignment(staffID: staffID, studentID: student.id, at: now, db: db) {
                return AccessDecision(scope: .full, basis: "assignment", detail: reason, explanation: reason)
            }
        }

        let ownReports = caller.roles.subtracting([.analyst]).isEmpty ? AccessDecision.Scope.none : .ownReports
        return AccessDecision(scope: ownReports, basis: ownReports == .ownReports ? "reporter" : "",
                              explanation: try denialExplanation(caller, student, db))
    }

    /// Why the caller may not open the record, and what to do about it.
    func denialExplanation(_ caller: Caller, _ student: StudentRecord, _ db: Database) throws -> String {
        let name = student.displayName
        let askFor = try whoToAsk(student, db)
        let ask = askFor.isEmpty ? "an administrator at the school" : askFor
        let emergency = "If a child is at risk right now, open emergency access with a reason (haven access emergency \(student.id) --reason ...); administrators are told."
        if caller.roles.contains(.analyst), caller.roles.count == 1 {
            return "analysts see aggregate reports only, never an individual student's record"
        }
        if caller.roles.contains(.sro) {
            return "school resource officers see only the cases they are granted; ask \(ask) — granting is their decision, recorded with a reason as a disclosure to law enforcement"
        }
        let scopes = caller.roles.map { ($0, settings.scope(of: $0)) }
        if let (role, _) = scopes.first(where: { $0.1 == .caseload }) {
            return "\(plural(role)) see the students on their caseload, and \(name) is not on yours; ask \(ask) for a grant. \(emergency)"
        }
        if let (role, _) = scopes.first(where: { $0.1 == .school }) {
            let school = try StudentStore.schoolName(db, id: student.schoolID) ?? student.schoolID
            return "\(plural(role)) see the students at their own schools, and \(name) attends \(school); ask \(ask) for a grant. \(emergency)"
        }
        if caller.roles.contains(.admin), caller.roles.count == 1 {
            return "the admin role manages accounts and settings, not student records; link your uid to a staff account with a counselor-level role, or ask \(ask) for a grant"
        }
        return "you see the concerns you reported; the rest of \(name)'s record is for the people responsible for their care. Ask \(ask) for a grant if you need more. \(emergency)"
    }

    /// The counselors who have the student on their caseload, else the school's administrators.
    private func whoToAsk(_ student: StudentRecord, _ db: Database) throws -> String {
        var names = try String.fetchAll(db.cachedStatement(sql: """
            SELECT s.display_name FROM caseload c JOIN staff s ON s.id = c.staff_id
            WHERE c.student_id = ? AND s.active = 1 ORDER BY s.display_name LIMIT 3
            """), arguments: [student.id])
        if names.isEmpty {
            names = try StaffStore.withAnyRole(db, roles: [.administrator], schoolID: student.schoolID).prefix(3).map(\.displayName)
        }
        return names.joined(separator: " or ")
    }

    private func plural(_ role: Role) -> String {
        switch role {
        case .socialWorker: "social workers"
        case .administrator: "administrators"
        default: "\(role.rawValue)s"
        }
    }

    /// Whether the caller may record a concern about the student: any staff
    /// member, about a student at one of their schools (district staff with no
    /// school: any student). Analysts see aggregates only and may not.
    func canReport(_ caller: Caller, student: StudentRecord, db: Database) throws -> String? {
        guard let staffID = caller.staffID else { return "only staff members can record a concern" }
        if caller.roles.subtracting([.analyst]).isEmpty { return "analysts see aggregates only and do not record concerns" }
        if try StaffStore.worksAt(db, staffID: staffID, schoolID: student.schoolID) { return nil }
        let school = try StudentStore.schoolName(db, id: student.schoolID) ?? student.schoolID
        return "\(student.displayName) attends \(school), which is not one of your schools; ask an administrator to add it to your account if you work there"
    }
}

extension AccessPolicy {
    /// Students the staff member sees through a live grant, emergency access
    /// or a plugin's assignment (for filtering lists).
    func grantedStudentIDs(_ db: Database, staffID: String, at now: Date) throws -> Set<String> {
        let ms = StoredTime.ms(now)
        var ids = Set(try String.fetchAll(db.cachedStatement(sql: """
            SELECT g.student_id FROM grants g LEFT JOIN grant_revocations r ON r.grant_id = g.id
            WHERE g.grantee_id = ? AND r.grant_id IS NULL AND g.expires_at > ?
            UNION SELECT student_id FROM emergency_access WHERE staff_id = ? AND expires_at > ?
            """), arguments: [staffID, ms, staffID, ms]))
        for provider in providers.withLock({ $0 }) {
            ids.formUnion(try provider.assignedStudentIDs(staffID: staffID, at: now, db: db))
        }
        return ids
    }
}
