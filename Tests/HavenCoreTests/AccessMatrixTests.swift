import Foundation
import HavenPluginAPI
import HavenProto
import HavenRPCClient
import HavenReferrals
import HavenReporting
import HavenScreening
import HavenTestSupport
import HavenWire
import SwiftProtobuf
import Testing

/// The access matrix, exhaustively: every method of every service for every
/// role (and for a deactivated account), and every role's reach into a
/// student's record with and without a caseload assignment or a grant. The
/// expectations are read from the documents people rely on — the method table
/// in Docs/protocol.md and the daemon's own `Access/Matrix` — never written
/// out here, so a method without a documented entry, or behaviour that
/// drifts from the documents, fails. Every refusal must leave an audit entry.
@Suite(.serialized, .timeLimit(.minutes(2))) struct AccessMatrixTests {
    /// Who may call a method, as the protocol docs' table says.
    enum Documented: Equatable {
        case anyone, staff
        case roles(Set<String>)

        init(_ words: String) {
            switch words {
            case "anyone who can connect": self = .anyone
            case "any staff member": self = .staff
            default: self = .roles(Set(words.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }))
            }
        }

        func allows(role: String?) -> Bool {
            switch self {
            case .anyone: true
            case .staff: role != nil
            case .roles(let roles): role.map(roles.contains) ?? false
            }
        }
    }

    /// `service/method` → who may call it, from the table between the markers in Docs/protocol.md.
    static func documentedMethods() throws -> [String: Documented] {
        let text = try String(contentsOfFile: Binaries.packageRoot + "/Docs/protocol.md", encoding: .utf8)
        guard let begin = text.range(of: "<!-- methods:begin"), let end = text.range(of: "<!-- methods:end -->") else {
            throw TestFailure("Docs/protocol.md has no methods:begin/methods:end table")
        }
        var methods: [String: Documented] = [:]
        for line in text[begin.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            methods[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = Documented(cells[2])
        }
        return methods
    }

    struct Persona {
        let label: String
        /// nil: a token whose staff account was deactivated (no staff identity).
        let role: String?
        let staffID: String
        let client: RPCClient
    }

    static func school() async throws -> (CoreHarness, [Persona], school1: String, school2: String) {
        let config = "[plugins]\nenabled = [\"screening\", \"referrals\", \"reporting\"]\n"
        let h = try await CoreHarness.start(config: config, plugins: [ScreeningPlugin(), ReferralsPlugin(), ReportingPlugin()])
        try await h.importRoster(SyntheticRoster.make(schools: 2, studentsPerSchool: 4).files)
        let school1 = try await h.schoolID(ofStudent: "stu-1-1"), school2 = try await h.schoolID(ofStudent: "stu-2-1")
        var personas: [Persona] = []
        for role in Role.allCases {
            let id = try await h.addStaff("Test \(role.rawValue)", [role], schools: [school1])
            personas.append(Persona(label: role.rawValue, role: role.rawValue, staffID: id, client: try await h.client(as: id)))
        }
        let gone = try await h.addStaff("Former Counselor", [.counselor], schools: [school1])
        let goneClient = try await h.client(as: gone)
        let _: Haven_V1_GetStaffResponse = try await h.admin.unary("haven.v1.Staff", "Deactivate", Haven_V1_DeactivateStaffRequest.with { $0.staffID = gone })
        personas.append(Persona(label: "deactivated", role: nil, staffID: gone, client: goneClient))
        return (h, personas, school1, school2)
    }

    /// The method gate: each call carries an empty request, so an allowed
    /// caller gets past the gate to the handler (which may still say the
    /// request is incomplete) and a refused one gets the gate's denial.
    @Test func everyMethodAllowsExactlyTheRolesItsDocumentationNames() async throws {
        let documented = try Self.documentedMethods()
        let (h, personas, _, _) = try await Self.school()
        defer { Task { await h.stop() } }

        // A served method missing from the documented matrix fails here.
        let described: Haven_V1_DescribeResponse = try await h.admin.unary("haven.v1.Daemon", "Describe", Haven_V1_DescribeRequest())
        var streaming: Set<String> = []
        var served: Set<String> = []
        for service in described.services {
            for method in service.methods {
                let name = "\(service.name)/\(method.name)"
                served.insert(name)
                if method.serverStreaming { streaming.insert(name) }
                #expect(documented[name] != nil, "\(name) is served but has no row in Docs/protocol.md's method table")
            }
        }
        #expect(Set(documented.keys) == served, "documented but not served: \(Set(documented.keys).subtracting(served).sorted())")

        var expectedDenials: [String: Int] = [:]  // "staffID method" -> count
        var checked = 0
        for name in served.sorted() {
            guard let rule = documented[name] else { continue }
            let parts = name.split(separator: "/").map(String.init)
            for persona in personas {
                let allowed = rule.allows(role: persona.role)
                let status = await Self.call(persona.client, service: parts[0], method: parts[1], streaming: streaming.contains(name))
                let gateDenial = status?.code == .permissionDenied
                    && (status!.message.contains("is open to") || status!.message.contains("needs a staff account"))
                if allowed {
                    #expect(!gateDenial, "\(persona.label) may call \(name) per the docs, but was refused: \(status?.message ?? "")")
                    #expect(status?.code != .unauthenticated, "\(persona.label) calling \(name): \(status?.message ?? "")")
                } else {
                    #expect(gateDenial, "\(persona.label) may not call \(name) per the docs, but got \(status.map { "\($0.code) \($0.message)" } ?? "OK")")
                    expectedDenials["\(persona.staffID) \(name)", default: 0] += 1
                }
                checked += 1
            }
        }
        #expect(checked == served.count * personas.count)
        #expect(expectedDenials.count > 100, "the matrix refuses many calls; found \(expectedDenials.count)")

        // Every refusal left an audit entry naming who and which method.
        // (A deactivated account's calls are attributed to the token's account.)
        var audited: [String: Int] = [:]
        var before: Int64 = 0
        while true {
            let page: Haven_V1_AuditLogResponse = try await h.admin.unary("haven.v1.Audit", "Log", Haven_V1_AuditLogRequest.with {
                $0.limit = 1000
                $0.beforeSequence = before
            })
            for entry in page.entries where entry.action == "access.denied" && entry.outcome == "denied" {
                audited["\(entry.actorID) \(entry.method)", default: 0] += 1
            }
            guard let last = page.entries.last, page.entries.count == 1000 else { break }
            before = last.sequence
        }
        for (key, count) in expectedDenials {
            #expect(audited[key, default: 0] >= count, "no access.denied audit entry for \(key)")
        }
    }

    /// A student's record (Timeline/Get) for each role, about a student who is
    /// unrelated (another school), at the caller's school, on their caseload,
    /// or granted to them — against the sentence `Access/Matrix` prints for
    /// the role, which is the privacy notice's wording.
    @Test func everyRoleReachesAStudentsRecordExactlyAsTheMatrixSays() async throws {
        let (h, personas, _, _) = try await Self.school()
        defer { Task { await h.stop() } }
        let matrix: Haven_V1_MatrixResponse = try await h.admin.unary("haven.v1.Access", "Matrix", Haven_V1_MatrixRequest())
        let text = matrix.text
        #expect(text.contains("Haven access matrix"))

        // One student per relation; each persona is granted the same student, and its caseload entry is removed after its turn.
        let unrelated = try await h.student("stu-2-1").id
        let atSchool = try await h.student("stu-1-1").id
        let onCaseload = try await h.student("stu-1-2").id
        let granted = try await h.student("stu-2-2").id
        // Each student has a concern reported by someone else, so their record holds something to see.
        var concernOf: [String: String] = [:]
        for student in [unrelated, atSchool, onCaseload, granted] {
            concernOf[student] = try await h.admin.createConcern([student]).concerns[0].id
        }

        var expectedDenials: [(staffID: String, student: String)] = []
        var outcomes: [String: Int] = [:]
        for persona in personas where persona.role != nil {
            let role = persona.role!
            let sees = Self.sentence(in: text, for: role)
            try #require(sees != nil, "Access/Matrix has no line for \(role):\n\(text)")
            // Caseloads exist for the roles that carry one; for the others the student is just one at their school.
            let assigned = await statusOf { try await h.caseload(persona.staffID, [onCaseload]) } == nil
            #expect(assigned == sees!.contains("on their caseload"), "\(role): caseload assignment \(assigned ? "accepted" : "refused"), matrix says: \(sees!)")
            let grant = await statusOf {
                let _: Haven_V1_Grant = try await h.admin.unary("haven.v1.Access", "CreateGrant", Haven_V1_CreateGrantRequest.with {
                    $0.studentID = granted
                    $0.granteeID = persona.staffID
                    $0.purpose = "access matrix test"
                    $0.expiresAt = Google_Protobuf_Timestamp(date: Date().addingTimeInterval(86_400))
                    $0.lawEnforcementReason = role == "sro" ? "threat assessment team member for this case" : ""
                })
            }
            let noRecords = sees!.contains("no individual record")
            // A grant is refused only to a role that may never see a record.
            #expect((grant != nil) == noRecords, "granting to \(role): \(grant?.message ?? "accepted")")
            let seesSchool = sees!.contains("every student in the district") || sees!.contains("every student at their schools")
            let expected: [(String, String, Bool)] = [
                ("unrelated", unrelated, sees!.contains("every student in the district")),
                ("at their school", atSchool, seesSchool),
                (assigned ? "on their caseload" : "at their school", onCaseload, seesSchool || (assigned && sees!.contains("on their caseload"))),
                // A grant opens a case to every role but the analyst, who sees no individual record at all.
                ("granted", granted, !noRecords),
            ]
            for (relation, student, allowed) in expected {
                // Seen: the whole record. Hidden: only what they reported themselves (here nothing). Denied: nothing at all.
                var outcome = "denied"
                do {
                    let timeline = try await persona.client.timeline(student)
                    let shown = timeline.entries.contains { $0.recordID == concernOf[student] }
                    outcome = shown && timeline.hiddenEntries == 0 ? "seen" : "hidden"
                    if !shown { #expect(timeline.hiddenEntries > 0, "\(role): a hidden record is counted as hidden") }
                } catch let error as RPCError {
                    #expect(error.code == .permissionDenied, "\(role) reading a student \(relation): \(error)")
                }
                outcomes[outcome, default: 0] += 1
                if allowed {
                    #expect(outcome == "seen", "\(role) should see a student \(relation) (\(sees!)); the record was \(outcome)")
                } else {
                    #expect(outcome != "seen", "\(role) should not see a student \(relation) (\(sees!))")
                    // Analysts never get even a partial view.
                    if noRecords { #expect(outcome == "denied", "\(role) got a partial view of a student \(relation)") }
                }
                if outcome == "denied" { expectedDenials.append((persona.staffID, student)) }
            }
            if assigned { try await h.unassignCaseload(persona.staffID, [onCaseload]) }
        }
        print("access matrix: Timeline/Get for \(Role.allCases.count) roles × 4 relations: \(outcomes)")
        #expect(outcomes["seen", default: 0] > 0 && outcomes["hidden", default: 0] > 0 && outcomes["denied", default: 0] > 0)
        let log: Haven_V1_AuditLogResponse = try await h.admin.unary("haven.v1.Audit", "Log", Haven_V1_AuditLogRequest.with { $0.limit = 1000 })
        for denial in expectedDenials {
            #expect(log.entries.contains {
                $0.action == "access.denied" && $0.actorID == denial.staffID && $0.studentID == denial.student && $0.method == "haven.v1.Timeline/Get"
            }, "no audit entry for \(denial.staffID) refused \(denial.student)")
        }
    }

    /// The "sees:" sentence for a role in Access/Matrix's text.
    static func sentence(in text: String, for role: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let at = lines.firstIndex(of: role), at + 1 < lines.count else { return nil }
        let line = lines[at + 1].trimmingCharacters(in: .whitespaces)
        return line.hasPrefix("sees:") ? String(line.dropFirst(5)).trimmingCharacters(in: .whitespaces) : nil
    }

    /// One call with an empty request; the status it ended with (nil: OK).
    /// A stream is read to its first message or its end; one that stays open
    /// (Events/Subscribe) ends at a short deadline, which counts as admitted.
    static func call(_ client: RPCClient, service: String, method: String, streaming: Bool) async -> (code: StatusCode, message: String)? {
        await statusOf {
            if streaming {
                for try await _ in client.serverStream(service: service, method: method, payload: [], timeout: .milliseconds(500)) { break }
            } else {
                _ = try await client.unary(service: service, method: method, payload: [], timeout: .seconds(5))
            }
        }
    }
}
