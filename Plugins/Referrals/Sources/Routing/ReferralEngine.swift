import Foundation
import HavenProcess
import GRDB
import HavenPluginAPI
import HavenStorage
import Logging
import HavenLocking

/// Turns events into referrals, and deadlines into escalations.
///
/// Routing runs as an outbox subscriber, so it sees every event at least once;
/// a referral is unique per (event, rule), so redelivery never duplicates one.
/// Deadlines and escalation steps are rows, fired by `tick` whenever they are
/// due — including at start-up, for every deadline that passed while the
/// daemon was down.
final class ReferralEngine: Sendable {
    struct Settings: Sendable {
        var rulesFile: String?
        var timeZone: TimeZone
        var notifyCommand: String?
    }

    let core: any CoreServices
    let database: HavenDatabase
    let settings: Settings
    let logger: Logger
    private let rules: Locked<RoutingRules>
    let notifier: LocalCommandNotifier

    init(core: any CoreServices, database: HavenDatabase, settings: Settings, rules: RoutingRules, logger: Logger) {
        self.core = core
        self.database = database
        self.settings = settings
        self.logger = logger
        self.rules = Locked(rules)
        self.notifier = LocalCommandNotifier(command: settings.notifyCommand, logger: logger)
    }

    var currentRules: RoutingRules { rules.withLock { $0 } }

    /// Re-reads the rules file; on any problem the current rules stay.
    func reload() throws(RuleLoadFailure) -> RoutingRules {
        let loaded: RoutingRules
        if let file = settings.rulesFile {
            loaded = try RoutingRulesLoader.load(file: file)
        } else {
            loaded = try RoutingRulesLoader.parse(text: DefaultRoutingRules.text, name: DefaultRoutingRules.name)
        }
        rules.withLock { $0 = loaded }
        logger.notice("routing rules loaded", metadata: ["source": "\(loaded.source)", "rules": "\(loaded.rules.count)"])
        return loaded
    }

    // MARK: Routing

    /// The rules that match, in order, stopping after a rule with `stop`.
    func matching(_ event: DomainEvent) -> [RoutingRule] {
        var matched: [RoutingRule] = []
        for rule in currentRules.rules where rule.match(event, explaining: false).matched {
            matched.append(rule)
            if rule.stop { break }
        }
        return matched
    }

    /// Routes one event. Idempotent: one referral per (event, rule).
    func route(_ event: DomainEvent) async throws {
        // A desktop linked to a school server leaves routing to the server,
        // where its records arrive (Docs/sync.md).
        guard core.routesLocally, let studentID = event.studentID else { return }
        let rules = matching(event)
        guard !rules.isEmpty else { return }
        let now = core.clock.now()
        let notifications = try await database.writer.write { [self] db -> [Notification] in
            var notifications: [Notification] = []
            guard let student = try core.student(studentID, db: db) else { return [] }
            for rule in rules {
                if try ReferralStore.exists(db, eventID: event.id, rule: rule.name) { continue }
                let source = event.subjectID ?? event.id
                if let open = try ReferralStore.openFor(db, rule: rule.name, sourceID: source) {
                    logger.debug("already routed", metadata: ["rule": "\(rule.name)", "referral": "\(open)"])
                    continue
                }
                notifications += try create(db, rule: rule, event: event, student: student, now: now)
            }
            return notifications
        }
        notifier.send(notifications)
    }

    struct Notification: Sendable {
        var kind: String
        var referralID: String
        var studentID: String
        var priority: String
        var staffIDs: [String]
    }

    private func create(_ db: Database, rule: RoutingRule, event: DomainEvent, student: StudentRecord, now: Date) throws -> [Notification] {
        let id = RecordID.make(at: now)
        let ms = StoredTime.ms(now)
        let sourceType = event.type.hasPrefix("screening.") ? "screening" : (event.type.hasPrefix("concern.") ? "concern" : "event")
        try ReferralStore.insert(db, .init(
            id: id, studentID: student.id, schoolID: student.schoolID, rule: rule.name, reason: reason(rule, event), priority: rule.priority.rawValue,
            eventID: event.id, eventType: event.type, sourceType: sourceType, sourceID: event.subjectID ?? event.id, createdAt: ms,
            acknowledgeBy: ms + Int64(rule.acknowledgeWithin * 1000), node: core.nodeID))
        try db.executeCached("INSERT INTO referrals_raised_by (referral_id, staff_id) VALUES (?, ?)", [id, event.attributes["reporter_id"] ?? event.attributes["submitted_by"] ?? ""])
        for (index, step) in rule.escalation.enumerated() {
            try ReferralStore.addStep(db, referralID: id, step: index + 1, dueAt: ms + Int64(step.after * 1000),
                                      targets: step.targets.map(\.description).joined(separator: " "))
        }
        try ReferralStore.action(db, referralID: id, kind: "created", actor: "system", at: ms,
                                 note: "routed by rule \(rule.name): \(rule.description)", node: core.nodeID)
        var (recipients, notes) = try resolve(db, rule.targets, student: student, at: now)
        var level = 0
        // Nobody to receive it: fall back to the next step of the ladder, and say so.
        while recipients.isEmpty, level < rule.escalation.count {
            level += 1
            let step = rule.escalation[level - 1]
            notes.append("nobody could be reached through \(rule.targets.map(\.description).joined(separator: ", ")); added the next step of the ladder now (\(step.targets.map(\.description).joined(separator: ", ")))")
            try db.executeCached("UPDATE referrals_steps SET fired_at = ? WHERE referral_id = ? AND step = ?", [ms, id, level])
            (recipients, _) = try resolve(db, step.targets, student: student, at: now)
        }
        if recipients.isEmpty {
            // Last resort: never leave a routed concern with nobody.
            recipients = try core.staff(withAnyRole: [.administrator], schoolID: student.schoolID, db: db).map(\.id)
            if recipients.isEmpty { recipients = try core.staff(withAnyRole: [.admin], schoolID: nil, db: db).map(\.id) }
            notes.append("nobody on the rule or its ladder could be found; sent to the school's administrators")
        }
        for note in notes {
            try ReferralStore.action(db, referralID: id, kind: "note", actor: "system", at: ms, note: note, node: core.nodeID)
        }
        for staffID in recipients {
            try ReferralStore.addRecipient(db, referralID: id, staffID: staffID, level: level, addedBy: level == 0 ? "rule" : "fallback", at: ms, reason: rule.name)
            try core.notify(staffID: staffID, kind: "referral.created",
                            message: "New \(rule.priority.rawValue) referral \(id) for student \(student.id) (\(rule.name)); acknowledge within \(Durations.format(rule.acknowledgeWithin)).",
                            studentID: student.id, subjectID: id, db: db)
        }
        try ReferralStore.setCurrent(db, id: id, [("escalation_level", level)])
        try core.publish(NewEvent(type: "referral.created", studentID: student.id, schoolID: student.schoolID, subjectID: id, attributes: [
            "priority": rule.priority.rawValue, "rule": rule.name, "recipients": recipients.joined(separator: ","),
            "source_type": sourceType, "source_id": event.subjectID ?? "",
        ]), db: db)
        try core.auditSystem(AuditRecord(action: "referral.create", studentID: student.id, recordIDs: [id] + recipients, purpose: rule.name), db: db)
        return [Notification(kind: "referral.created", referralID: id, studentID: student.id, priority: rule.priority.rawValue, staffIDs: recipients)]
    }

    private func reason(_ rule: RoutingRule, _ event: DomainEvent) -> String {
        var parts = [rule.description.isEmpty ? rule.name : rule.description]
        if let instrument = event.attributes["instrument"] { parts.append("\(instrument) \(event.attributes["band"] ?? "")") }
        if let category = event.attributes["category"] { parts.append("\(category) (\(event.attributes["severity"] ?? ""))") }
        return parts.joined(separator: " — ")
    }

    /// Staff ids for targets at the student's school, and notes on fallbacks.
    func resolve(_ db: Database, _ targets: [Target], student: StudentRecord, at now: Date) throws -> ([String], [String]) {
        var ids: [String] = []
        var notes: [String] = []
        func add(_ staff: [StaffRecord]) {
            for s in staff where s.active && !s.roles.contains(.sro) && !ids.contains(s.id) { ids.append(s.id) }
        }
        for target in targets {
            switch target {
            case .onDuty(let duty):
                let (staff, usedFallback) = try DutyRota.onDuty(db, schoolID: student.schoolID, duty: duty, at: now, timeZone: settings.timeZone)
                if staff.isEmpty {
                    notes.append("nobody is on duty as \(duty) at the student's school and there is no fallback on the rota")
                } else if usedFallback {
                    notes.append("nobody is on duty as \(duty) now; the rota's fallback was used")
                }
                add(try staff.compactMap { try core.staffMember($0, db: db) })
            case .role(let role):
                add(try core.staff(withAnyRole: [role], schoolID: student.schoolID, db: db))
            case .team(let name):
                let (members, teamNotes) = try resolve(db, currentRules.teams[name] ?? [], student: student, at: now)
                notes += teamNotes
                add(try members.compactMap { try core.staffMember($0, db: db) })
            case .staff(let id):
                if let staff = try core.staffMember(id, db: db) { add([staff]) } else { notes.append("staff \(id) named by the rule does not exist") }
            case .caseload:
                add(try core.caseloadStaff(studentID: student.id, db: db))
            }
        }
        return (ids, notes)
    }

    // MARK: Deadlines

    /// Fires every escalation step and overdue notice that is due; returns how many.
    @discardableResult
    func tick() async throws -> Int {
        guard core.routesLocally else { return 0 }
        let now = core.clock.now()
        let ms = StoredTime.ms(now)
        let (count, notifications) = try await database.writer.write { [self] db -> (Int, [Notification]) in
            var notifications: [Notification] = []
            var count = 0
            for referralID in try ReferralStore.newlyOverdue(db, now: ms) {
                guard let row = try ReferralStore.row(db, id: referralID) else { continue }
                try ReferralStore.setCurrent(db, id: referralID, [("overdue", 1)])
                try ReferralStore.action(db, referralID: referralID, kind: "overdue", actor: "system", at: ms,
                                         note: "nobody acknowledged it within the deadline", node: core.nodeID)
                let studentID: String = row["student_id"]
                try core.publish(NewEvent(type: "referral.overdue", studentID: studentID, schoolID: row["school_id"], subjectID: referralID,
                                          attributes: ["priority": row["priority"], "rule": row["rule"]]), db: db)
                // The person who raised the concern is told.
                if let raisedBy = try String.fetchOne(db.cachedStatement(sql: "SELECT staff_id FROM referrals_raised_by WHERE referral_id = ?"), arguments: [referralID]),
                   !raisedBy.isEmpty {
                    try core.notify(staffID: raisedBy, kind: "referral.overdue",
                                    message: "Nobody has acknowledged referral \(referralID) about student \(studentID) in time; it is being escalated.",
                                    studentID: studentID, subjectID: referralID, db: db)
                }
                for recipient in try ReferralStore.recipients(db, referralID: referralID) {
                    try core.notify(staffID: recipient["staff_id"], kind: "referral.overdue",
                                    message: "Referral \(referralID) for student \(studentID) is overdue for acknowledgement.",
                                    studentID: studentID, subjectID: referralID, db: db)
                }
                try core.auditSystem(AuditRecord(action: "referral.overdue", studentID: studentID, recordIDs: [referralID]), db: db)
                notifications.append(Notification(kind: "referral.overdue", referralID: referralID, studentID: studentID, priority: row["priority"], staffIDs: []))
                count += 1
            }
            for (referralID, step, _) in try ReferralStore.dueSteps(db, now: ms) {
                if let n = try escalate(db, referralID: referralID, step: step, now: now, why: "not acknowledged in time") {
                    notifications.append(n)
                    count += 1
                }
            }
            return (count, notifications)
        }
        notifier.send(notifications)
        return count
    }

    /// Fires one ladder step: its targets become recipients.
    func escalate(_ db: Database, referralID: String, step: Int, now: Date, why: String) throws -> Notification? {
        let ms = StoredTime.ms(now)
        guard let row = try ReferralStore.row(db, id: referralID),
              let stepRow = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM referrals_steps WHERE referral_id = ? AND step = ? AND fired_at IS NULL"),
                                             arguments: [referralID, step]) else { return nil }
        try db.executeCached("UPDATE referrals_steps SET fired_at = ? WHERE referral_id = ? AND step = ?", [ms, referralID, step])
        guard let student = try core.student(row["student_id"], db: db) else { return nil }
        let targets = (stepRow["targets"] as String).split(separator: " ").compactMap { Self.parseTarget(String($0)) }
        let (ids, notes) = try resolve(db, targets, student: student, at: now)
        var added: [String] = []
        for id in ids where try ReferralStore.addRecipient(db, referralID: referralID, staffID: id, level: step, addedBy: "escalation", at: ms, reason: why) {
            added.append(id)
        }
        try ReferralStore.setCurrent(db, id: referralID, [("escalation_level", step)])
        let names = try added.compactMap { try core.staffMember($0, db: db)?.displayName }
        try ReferralStore.action(db, referralID: referralID, kind: "escalated", actor: "system", at: ms,
                                 note: "\(why): step \(step) added \(names.isEmpty ? "nobody new" : names.joined(separator: ", "))" + (notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))"),
                                 node: core.nodeID)
        for id in added {
            try core.notify(staffID: id, kind: "referral.escalated",
                            message: "Referral \(referralID) for student \(student.id) was escalated to you (\(row["priority"] as String)); please acknowledge.",
                            studentID: student.id, subjectID: referralID, db: db)
        }
        try core.publish(NewEvent(type: "referral.escalated", studentID: student.id, schoolID: student.schoolID, subjectID: referralID, attributes: [
            "priority": row["priority"], "rule": row["rule"], "step": "\(step)", "added": added.joined(separator: ","),
        ]), db: db)
        try core.auditSystem(AuditRecord(action: "referral.escalate", studentID: student.id, recordIDs: [referralID] + added, purpose: "step \(step)"), db: db)
        return Notification(kind: "referral.escalated", referralID: referralID, studentID: student.id, priority: row["priority"], staffIDs: added)
    }

    static func parseTarget(_ text: String) -> Target? {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first, parts.count) {
        case ("on_duty", 2): return .onDuty(parts[1])
        case ("role", 2): return Role(rawValue: parts[1]).map(Target.role)
        case ("team", 2): return .team(parts[1])
        case ("staff", 2): return .staff(parts[1])
        case ("caseload", 1): return .caseload
        default: return nil
        }
    }

    /// Runs the deadline scheduler until cancelled: fires what is due, then
    /// sleeps until the next deadline (at most a second, so new referrals and
    /// a changed clock are picked up).
    func runScheduler() async {
        while !Task.isCancelled {
            do {
                try await tick()
            } catch {
                logger.error("the referral scheduler failed; retrying", metadata: ["error": "\(error)"])
            }
            let next = (try? await database.pool.read { db in try ReferralStore.nextDue(db) }) ?? nil
            let wait = next.map { max(0, Double($0 - StoredTime.ms(core.clock.now())) / 1000) } ?? 1
            try? await Task.sleep(for: .milliseconds(Int64(min(wait, 1) * 1000) + 10))
        }
    }
}

/// Runs the school's configured local command for urgent and emergency
/// notifications. The daemon itself never opens a network connection; the
/// command receives ids and codes (never narrative) in its environment, and
/// none of the daemon's descriptors (ChildProcess closes them).
struct LocalCommandNotifier: Sendable {
    let command: String?
    let logger: Logger

    /// A command still running after this long is stopped, so that a hung
    /// one cannot pile up a process per notification.
    static let patience: Duration = .seconds(300)

    func send(_ notifications: [ReferralEngine.Notification]) {
        guard let command, !notifications.isEmpty else { return }
        for n in notifications where ["urgent", "emergency"].contains(n.priority) {
            var environment = ProcessInfo.processInfo.environment
            environment["HAVEN_NOTIFICATION"] = n.kind
            environment["HAVEN_REFERRAL_ID"] = n.referralID
            environment["HAVEN_STUDENT_ID"] = n.studentID
            environment["HAVEN_PRIORITY"] = n.priority
            environment["HAVEN_STAFF_IDS"] = n.staffIDs.joined(separator: ",")
            let metadata: Logger.Metadata = ["command": "\(command)", "referral": "\(n.referralID)", "notification": "\(n.kind)"]
            let child: ChildProcess
            do {
                child = try ChildProcess(command, [], environment: environment, stdin: .null, stdout: .null, stderr: .null)
            } catch {
                logger.error("the notify command could not run", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                continue
            }
            // Waited for off the caller's path: routing does not wait on the
            // command, but its end is reaped and a failure is logged.
            Task.detached { [logger] in
                let ended = try? await child.wait(timeout: Self.patience)
                switch ended {
                case .exited(0)?:
                    logger.debug("the notify command ran", metadata: metadata)
                case let ended?:
                    logger.error("the notify command failed", metadata: metadata.merging(["ended": "\(ended)"]) { $1 })
                case nil:
                    logger.error("the notify command did not finish in time and was stopped", metadata: metadata.merging(["after": "\(Self.patience)"]) { $1 })
                    child.stop()
                }
            }
        }
    }
}
