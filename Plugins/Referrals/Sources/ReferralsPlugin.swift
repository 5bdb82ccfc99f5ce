import Foundation
import GRDB
import HavenConfig
import HavenPluginAPI
import HavenReferralsProto
import HavenStorage
import HavenLocking

/// The `referrals` plugin: turns a logged worry or a risky screening into an
/// adult acting — with an owner, a deadline and an escalation ladder that
/// survive restarts.
public struct ReferralsPlugin: HavenPlugin {
    public static let id = "referrals"

    /// The running engine, for tests that fire deadlines by hand.
    let engineBox = EngineBox()

    public init() {}

    public var manifest: PluginManifest {
        PluginManifest(
            id: Self.id, version: "0.1.0",
            description: "Routes concerns and screenings to the adult who must act, with acknowledgement deadlines and escalation",
            dependencies: [],
            services: [ReferralsService.name],
            descriptorSetBase64: ReferralsProtoDescriptors.fileDescriptorSetBase64)
    }

    public var migrations: [Migration] {
        [Migration("0001-plugin-state") { db in
            try db.execute(sql: "CREATE TABLE referrals_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT")
        }, DutyRota.migration, ReferralStore.migration]
    }

    struct Settings: Sendable {
        var rules: String?
        var timeZone: String?
        var notifyCommand: String?
    }

    public func readSettings(_ section: ConfigSection) -> any Sendable {
        let timeZone = section.string("timezone")
        if let timeZone, TimeZone(identifier: timeZone) == nil {
            section.report("timezone", "\"\(timeZone)\" is not a time zone (e.g. America/New_York)")
        }
        return Settings(rules: section.string("rules"), timeZone: timeZone, notifyCommand: section.string("notify_command"))
    }

    /// The demo school's duty rota: its counselors on duty, its administrators as designated leads.
    public func seedDemoData(_ context: PluginContext) async throws {
        let core = context.core
        try await context.database.writer.write { db in
            let now = StoredTime.ms(core.clock.now())
            for school in try core.schools(db: db) {
                for (duty, role) in [("counselor", Role.counselor), ("designated_lead", Role.administrator)] {
                    for staff in try core.staff(withAnyRole: [role], schoolID: school.id, db: db) {
                        try DutyRota.insert(db, .init(id: RecordID.make(), schoolID: school.id, duty: duty, staffID: staff.id, days: [], from: nil, to: nil, fallback: false),
                                            by: "demo", at: now, node: core.nodeID)
                    }
                }
            }
        }
    }

    public func activate(_ context: PluginContext) async throws -> PluginActivation {
        let settings = context.settings(as: Settings.self) ?? Settings()
        let rulesFile = settings.rules.map { $0.hasPrefix("/") ? $0 : (context.configDirectory as NSString).appendingPathComponent($0) }
        let engine = ReferralEngine(
            core: context.core, database: context.database,
            settings: .init(rulesFile: rulesFile, timeZone: settings.timeZone.flatMap(TimeZone.init(identifier:)) ?? .current, notifyCommand: settings.notifyCommand),
            rules: RoutingRules(rules: [], teams: [:], source: ""), logger: context.logger)
        // A bad rules file stops the plugin at start: every problem is in the error.
        _ = try engine.reload()
        engineBox.engine.withLock { $0 = engine }
        context.core.registerAssignmentProvider(ReferralAssignments())
        context.core.registerSync(ReferralSync.participant(core: context.core))
        // Fire every deadline that passed while the daemon was down, then keep watch.
        try await engine.tick()
        let scheduler = Task { await engine.runScheduler() }
        return PluginActivation(
            services: [ReferralsService(engine: engine).definition],
            eventSubscriptions: [
                EventSubscription(name: "routing", types: ["concern.created", "concern.updated", "screening.completed"]) { event in
                    try await engine.route(event)
                },
            ],
            timelineContributors: [ReferralTimeline()],
            stop: {
                scheduler.cancel()
                await scheduler.value
            })
    }
}

/// Recipients (and for urgent and emergency referrals the escalation chain)
/// see the student's record while the referral is open.
struct ReferralAssignments: AssignmentProvider {
    func assignment(staffID: String, studentID: String, at: Date, db: Database) throws -> String? {
        try ReferralStore.seesThrough(db, staffID: staffID, studentID: studentID, now: StoredTime.ms(at)).map { "you are on referral \($0) for this student" }
    }

    func assignedStudentIDs(staffID: String, at: Date, db: Database) throws -> Set<String> {
        try ReferralStore.studentsThrough(db, staffID: staffID)
    }
}

/// Referrals and everything that happened to them, on the student's timeline.
struct ReferralTimeline: TimelineContributor {
    func timelineEntries(studentID: String, access: AccessDecision, caller: Caller, db: Database) throws -> [TimelineEntry] {
        guard access.isFull else { return [] }
        return try Row.fetchAll(db.cachedStatement(sql: """
            SELECT a.*, r.priority, r.rule, s.display_name FROM referrals_actions a JOIN referrals r ON r.id = a.referral_id
            LEFT JOIN staff s ON s.id = a.actor_id WHERE r.student_id = ? ORDER BY a.at
            """), arguments: [studentID]).map { row in
            let kind: String = row["kind"]
            let who = (row["display_name"] as String?) ?? "Haven"
            let title: String = switch kind {
            case "created": "Referral (\(row["priority"] as String)) by rule \(row["rule"] as String)"
            case "escalated": "Referral escalated"
            case "overdue": "Referral overdue: nobody acknowledged in time"
            case "closed": "Referral closed (\(row["disposition"] as String)) by \(who)"
            default: "Referral \(kind) by \(who)"
            }
            return TimelineEntry(id: row["id"], kind: "referral", occurredAt: StoredTime.date(row["at"]), title: title, detail: row["note"],
                                 recordID: row["referral_id"], source: ReferralsPlugin.id)
        }
    }
}

final class EngineBox: Sendable {
    let engine = Locked<ReferralEngine?>(nil)
}
