import HavenPluginAPI

/// The permission matrix in words, generated from the settings that enforce
/// it, so the privacy notice can never drift from the daemon's behaviour.
enum PermissionMatrix {
    static func rows(_ settings: CoreSettings) -> [(role: Role, sees: String, may: [String])] {
        Role.allCases.map { role in
            let sees: String
            switch (role, settings.scope(of: role)) {
            case (.analyst, _): sees = "no individual record; aggregate reports only (small cells suppressed)"
            case (.sro, _): sees = "no student's records, except cases a person grants (with a purpose, an expiry and a recorded reason)"
            case (.admin, .none): sees = "no student's records (manages accounts, roster, tokens and settings)"
            case (_, .none): sees = "the concerns they reported"
            case (_, .caseload): sees = "the whole case of students on their caseload, and the concerns they reported"
            case (_, .school): sees = "the whole case of every student at their schools"
            case (_, .district): sees = "the whole case of every student in the district"
            }
            var may: [String] = []
            if role != .analyst { may.append("report a concern about a student at their school") }
            if AccessPolicy.grantors.contains(role) { may.append("grant another staff member access to a student's case they can see") }
            if role == .admin { may += ["manage staff accounts, roles, caseloads and tokens", "import the roster", "read and verify the audit log"] }
            if role == .administrator { may += ["manage caseloads at their schools", "read who looked at the records of students they can see"] }
            if AccessPolicy.counselorLevel.contains(role) || role == .nurse || role == .administrator {
                may.append("triage, annotate and close concerns about students they can see")
            }
            if settings.eventRoles.contains(role) { may.append("follow the event stream (ids and codes, never narrative)") }
            if role != .analyst && role != .integration {
                may.append("open emergency access to one student for \(settings.emergencyAccessMinutes) minutes, with a written reason; administrators are told")
            }
            return (role, sees, may)
        }
    }

    static func text(_ settings: CoreSettings) -> String {
        var lines = [
            "Haven access matrix",
            "",
            "Every role also sees a student's case while they hold a grant for it, while their emergency access",
            "is open, or while they are assigned to it through a referral. Every look, change and refusal is",
            "written to the audit log.",
            "",
        ]
        for row in rows(settings) {
            lines.append("\(row.role.rawValue)")
            lines.append("  sees: \(row.sees)")
            for item in row.may { lines.append("  may:  \(item)") }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }
}
