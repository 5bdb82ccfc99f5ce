import GRDB
import HavenPluginAPI
import HavenStorage
import HavenWire

/// What of the referrals plugin syncs (Docs/sync.md): a desktop receives
/// the referrals its owner is a recipient or owner of (for students the
/// owner sees in full) with their recipients and actions, and sends back
/// the owner's actions — acknowledging, starting, declining, closing, notes.
/// Routing, deadlines and escalation stay on the server.
enum ReferralSync {
    /// Actions that set the referral's status. A decline is one recipient's
    /// and changes only who owns it, so it conflicts with nothing.
    static let statusKinds = ["acknowledged", "started", "closed"]

    static func participant(core: any CoreServices) -> SyncParticipant {
        let mine = """
            SELECT referral_id FROM referrals_recipients WHERE staff_id = :owner
            UNION SELECT referral_id FROM referrals_current WHERE owner_id = :owner
            """
        let visible = "id IN (\(mine)) AND student_id IN (SELECT value FROM json_each(:students))"
        let ofVisible = "referral_id IN (SELECT id FROM referrals WHERE \(visible))"
        let ofReferral = "(SELECT student_id FROM referrals r WHERE r.id = referral_id)"
        return SyncParticipant(
            tables: [
                SyncTable(
                    name: "referrals",
                    columns: [.init("id", .text), .init("student_id", .text), .init("school_id", .text), .init("rule", .text),
                              .init("reason", .text), .init("priority", .text), .init("event_id", .text), .init("event_type", .text),
                              .init("source_type", .text), .init("source_id", .text), .init("created_at", .integer),
                              .init("acknowledge_by", .integer), .init("origin_node", .text)],
                    pull: visible,
                    received: { rows, _, db in
                        for row in rows { try rederive(db, referralID: row.text("id")) }
                    },
                    onRemove: ["DELETE FROM referrals_current WHERE referral_id = :key", "DELETE FROM referrals_steps WHERE referral_id = :key",
                               "DELETE FROM referrals_raised_by WHERE referral_id = :key",
                               "DELETE FROM referrals_external_updates WHERE external_id IN (SELECT id FROM referrals_external WHERE referral_id = :key)",
                               "DELETE FROM referrals_external WHERE referral_id = :key"]),
                SyncTable(
                    name: "referrals_recipients",
                    columns: [.init("referral_id", .text), .init("staff_id", .text), .init("level", .integer), .init("added_by", .text),
                              .init("added_at", .integer), .init("reason", .text)],
                    keySQL: "'recipient:' || referral_id || ':' || staff_id",
                    pull: ofVisible, student: ofReferral),
                SyncTable(
                    name: "referrals_actions",
                    columns: [.init("id", .text), .init("referral_id", .text), .init("kind", .text), .init("actor_id", .text),
                              .init("at", .integer), .init("note", .text), .init("to_staff_id", .text), .init("disposition", .text),
                              .init("origin_node", .text)],
                    pull: ofVisible,
                    push: .init(authorColumn: "actor_id", selection: "origin_node = :node") { row, caller, db in
                        guard ["acknowledged", "started", "declined", "closed", "note"].contains(row.text("kind")) else {
                            throw RPCError.invalidArgument("a node may send acknowledged, started, declined, closed and note actions, not \(row.text("kind"))")
                        }
                        if row.text("kind") == "closed", !ReferralsService.dispositions.contains(row.text("disposition")) {
                            throw RPCError.invalidArgument("disposition \"\(row.text("disposition"))\" is not one of \(ReferralsService.dispositions.joined(separator: ", "))")
                        }
                        guard let referral = try ReferralStore.row(db, id: row.text("referral_id")) else {
                            throw RPCError.failedPrecondition("the server has no referral \(row.text("referral_id"))")
                        }
                        let owner = caller.staffID!
                        let recipient = try Bool.fetchOne(db, sql: "SELECT 1 FROM referrals_recipients WHERE referral_id = ? AND staff_id = ?",
                                                          arguments: [referral["id"] as String, owner]) == true
                        guard recipient || (referral["owner_id"] as String) == owner else {
                            throw AccessDenied("only the referral's recipients act on it", studentID: referral["student_id"])
                        }
                    },
                    received: { rows, receipt, db in try received(rows, receipt, core: core, db) },
                    student: ofReferral),
            ],
            candidateStudentsSQL: "SELECT student_id FROM referrals WHERE id IN (\(mine))",
            rederive: ["referral": { db, id in try rederive(db, referralID: id) }])
    }

    private static func received(_ rows: [SyncRow], _ receipt: SyncReceipt, core: any CoreServices, _ db: Database) throws {
        for row in rows {
            let referralID = row.text("referral_id")
            guard let referral = try ReferralStore.row(db, id: referralID) else { continue }
            let studentID: String = referral["student_id"]
            if receipt.onServer, statusKinds.contains(row.text("kind")) {
                let incoming = StatusChange(id: row.text("id"), status: row.text("kind"), at: row.integer("at"))
                let held = try receipt.concurrent(db, """
                    SELECT id, kind AS status, at, origin_node FROM referrals_actions
                    WHERE referral_id = :subject AND kind IN ('acknowledged', 'started', 'closed') AND id != :incoming
                    """, ["subject": referralID, "incoming": incoming.id])
                for other in held {
                    if let decision = ConflictRule.conflict(incoming, other) { try receipt.recordConflict(db, "referral", referralID, studentID, decision) }
                }
            }
            try rederive(db, referralID: referralID)
            guard receipt.onServer, let context = receipt.context else { continue }
            let kind = row.text("kind")
            // An action that lost a conflict is history, not news: no event.
            let lost = try Bool.fetchOne(db, sql: "SELECT 1 FROM sync_conflicts WHERE loser_entry_id = ?", arguments: [row.text("id")]) == true
            if kind != "note", !lost {
                let type = kind == "started" ? "referral.started" : "referral.\(kind)"
                try core.publish(NewEvent(type: type, studentID: studentID, schoolID: referral["school_id"], subjectID: referralID,
                                          attributes: ["priority": referral["priority"], "actor_id": row.text("actor_id"), "origin_node": row.text("origin_node")]), db: db)
            }
            try core.audit(AuditRecord(action: kind == "note" ? "referral.note" : "referral.\(kind == "started" ? "start" : kind == "acknowledged" ? "acknowledge" : kind == "declined" ? "decline" : "close")",
                                       studentID: studentID, recordIDs: [referralID, row.text("id")], purpose: "synced from \(row.text("origin_node"))"),
                           context: context, db: db)
        }
    }

    /// A referral's status, owner and times, replayed from its actions in
    /// (at, id) order, passing over actions that lost a sync conflict — the
    /// same on every node that holds the same actions. Every action, local or
    /// synced, updates the state this way (one rule, so nodes cannot drift).
    /// Escalation level and overdue stay as the server's scheduler set them.
    static func rederive(_ db: Database, referralID: String) throws {
        var status = "open"
        var owner = ""
        var acknowledgedAt: Int64?
        var closedAt: Int64?
        var disposition = ""
        let actions = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT kind, actor_id, at, to_staff_id, disposition FROM referrals_actions a
            WHERE referral_id = ? AND NOT EXISTS (SELECT 1 FROM sync_conflicts x WHERE x.loser_entry_id = a.id)
            ORDER BY at, id
            """), arguments: [referralID])
        for action in actions {
            let actor: String = action["actor_id"]
            let at: Int64 = action["at"]
            switch action["kind"] as String {
            case "acknowledged":
                if status == "open" {
                    status = "acknowledged"
                    acknowledgedAt = at
                }
                if owner.isEmpty, status != "closed" { owner = actor }
            case "started":
                if status != "closed" {
                    if status == "open" { acknowledgedAt = at }
                    status = "in_progress"
                    if owner.isEmpty { owner = actor }
                }
            case "declined":
                if owner == actor {
                    owner = ""
                    if status != "closed" { status = "open" }
                }
            case "assigned":
                owner = action["to_staff_id"]
            case "closed":
                status = "closed"
                closedAt = at
                disposition = action["disposition"]
            default:
                break
            }
        }
        try db.execute(sql: """
            INSERT INTO referrals_current (referral_id, status, owner_id, acknowledged_at, closed_at, disposition) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(referral_id) DO UPDATE SET status = excluded.status, owner_id = excluded.owner_id,
                acknowledged_at = excluded.acknowledged_at, closed_at = excluded.closed_at, disposition = excluded.disposition
            """, arguments: [referralID, status, owner, acknowledgedAt, closedAt, disposition])
    }
}
