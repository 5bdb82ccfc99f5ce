import HavenConfig
import HavenPluginAPI

/// Which students' records a role sees by default (beyond its own reports,
/// grants, emergency access and assignments).
public enum RecordScope: String, Sendable, CaseIterable {
    /// No student's records.
    case none
    /// Students on the staff member's caseload.
    case caseload
    /// Every student at the staff member's schools.
    case school
    /// Every student in the district.
    case district
}

/// The core's settings: `[access]` and `[concerns]` in the daemon config.
public struct CoreSettings: Sendable {
    public var scopes: [Role: RecordScope]
    /// uids that act as the built-in local administrator when not linked to a
    /// staff account. nil means the default: root and the daemon's own uid.
    public var localAdminUIDs: [UInt32]?
    public var emergencyAccessMinutes: Int
    public var maxGrantDays: Int
    /// Roles that may follow the event stream (events carry ids, not narrative).
    public var eventRoles: Set<Role>
    public var categories: [(code: String, label: String)]
    public var dispositions: [(code: String, label: String)]

    public static let defaultScopes: [Role: RecordScope] = [
        .admin: .none, .administrator: .school, .counselor: .caseload, .socialWorker: .caseload,
        .psychologist: .caseload, .nurse: .caseload, .teacher: .none, .sro: .none, .analyst: .none, .integration: .none,
    ]

    public static let defaultCategories: [(code: String, label: String)] = [
        ("withdrawal_mood", "Withdrawal or mood change"),
        ("self_harm_suicide", "Self-harm or suicide statement"),
        ("bullying", "Bullying"),
        ("threat_of_violence", "Threat of violence"),
        ("weapon", "Weapon"),
        ("substance_use", "Substance use"),
        ("family_home", "Family or home"),
        ("abuse_neglect", "Abuse or neglect disclosure"),
        ("attendance", "Attendance"),
        ("physical_health", "Physical health"),
        ("other", "Other"),
    ]

    public static let defaultDispositions: [(code: String, label: String)] = [
        ("resolved", "Resolved"),
        ("referred", "Referred for support"),
        ("referred_external", "Referred to an outside provider"),
        ("reported_to_authorities", "Reported to child protection or police"),
        ("no_action_needed", "No action needed"),
        ("duplicate", "Duplicate of another concern"),
    ]

    public init(
        scopes: [Role: RecordScope] = CoreSettings.defaultScopes, localAdminUIDs: [UInt32]? = nil,
        emergencyAccessMinutes: Int = 60, maxGrantDays: Int = 365, eventRoles: Set<Role> = [.admin, .integration],
        categories: [(code: String, label: String)] = CoreSettings.defaultCategories,
        dispositions: [(code: String, label: String)] = CoreSettings.defaultDispositions
    ) {
        self.scopes = scopes
        self.localAdminUIDs = localAdminUIDs
        self.emergencyAccessMinutes = emergencyAccessMinutes
        self.maxGrantDays = maxGrantDays
        self.eventRoles = eventRoles
        self.categories = categories
        self.dispositions = dispositions
    }

    public func scope(of role: Role) -> RecordScope { scopes[role] ?? .none }

    /// Reads `[access]` and `[concerns]`; problems are recorded on the sections.
    public static func read(access: ConfigSection, concerns: ConfigSection) -> CoreSettings {
        var settings = CoreSettings()
        let scopes = access.section("scopes")
        for key in scopes.keys {
            guard let role = Role(rawValue: key) else {
                scopes.report(key, "not a role; roles are \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
                continue
            }
            guard let text = scopes.string(key, oneOf: RecordScope.allCases.map(\.rawValue)), let scope = RecordScope(rawValue: text) else { continue }
            if role == .sro, scope != .none {
                scopes.report(key, "an SRO sees no student's records by default, only cases a person grants (FERPA's law-enforcement-unit separation); it must be \"none\"")
                continue
            }
            if role == .analyst, scope != .none {
                scopes.report(key, "an analyst sees aggregates only, never an individual record; it must be \"none\"")
                continue
            }
            settings.scopes[role] = scope
        }
        if let uids = access.integerArray("local_admin_uids") {
            settings.localAdminUIDs = uids.compactMap { UInt32(exactly: $0) }
        }
        if let minutes = access.integer("emergency_access_minutes", range: 5...240) { settings.emergencyAccessMinutes = minutes }
        if let days = access.integer("max_grant_days", range: 1...730) { settings.maxGrantDays = days }
        if let roles = access.stringArray("event_roles") {
            var parsed: Set<Role> = []
            for name in roles {
                if let role = Role(rawValue: name) { parsed.insert(role) } else { access.report("event_roles", "\"\(name)\" is not a role") }
            }
            settings.eventRoles = parsed
        }
        access.rejectUnknownKeys()

        for (key, target) in [("categories", \CoreSettings.categories), ("dispositions", \CoreSettings.dispositions)] {
            let table = concerns.section(key)
            guard !table.keys.isEmpty else { continue }
            var entries: [(code: String, label: String)] = []
            for code in table.keys {
                guard code.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) else {
                    table.report(code, "codes are lower-case letters, digits and underscores")
                    continue
                }
                if let label = table.string(code) { entries.append((code, label)) }
            }
            settings[keyPath: target] = entries
        }
        concerns.rejectUnknownKeys()
        return settings
    }
}
