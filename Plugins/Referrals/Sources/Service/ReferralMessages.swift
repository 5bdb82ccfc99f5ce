import Foundation
import GRDB
import HavenPluginAPI
import HavenReferralsProto
import HavenStorage

/// Builds the protobuf view of a referral from its rows.
enum ReferralMessages {
    static func referral(_ db: Database, _ id: String, core: any CoreServices, history: Bool) throws -> Haven_Referrals_V1_Referral? {
        guard let row = try ReferralStore.row(db, id: id) else { return nil }
        let student = try core.student(row["student_id"], db: db)
        let ownerID: String = row["owner_id"]
        return try Haven_Referrals_V1_Referral.with { r in
            r.id = id
            r.studentID = row["student_id"]
            r.studentName = student?.displayName ?? ""
            r.schoolID = row["school_id"]
            r.rule = row["rule"]
            r.reason = row["reason"]
            r.priority = row["priority"]
            r.status = row["status"]
            r.ownerID = ownerID
            r.ownerName = ownerID.isEmpty ? "" : (try core.staffMember(ownerID, db: db)?.displayName ?? ownerID)
            r.createdAt = .init(date: StoredTime.date(row["created_at"]))
            r.acknowledgeBy = .init(date: StoredTime.date(row["acknowledge_by"]))
            r.overdue = row["overdue"]
            r.escalationLevel = row["escalation_level"]
            r.disposition = row["disposition"]
            r.sourceType = row["source_type"]
            r.sourceID = row["source_id"]
            r.eventType = row["event_type"]
            r.originNode = row["origin_node"]
            if let next = try ReferralStore.nextStepAt(db, referralID: id), (row["status"] as String) == "open" {
                r.nextEscalationAt = .init(date: StoredTime.date(next))
            }
            r.recipients = try ReferralStore.recipients(db, referralID: id).map { rec in
                .with {
                    $0.staffID = rec["staff_id"]
                    $0.name = rec["display_name"] ?? ""
                    $0.level = rec["level"]
                    $0.addedBy = rec["added_by"]
                    $0.addedAt = .init(date: StoredTime.date(rec["added_at"]))
                    $0.reason = rec["reason"]
                }
            }
            guard history else { return }
            r.history = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT a.*, s.display_name FROM referrals_actions a LEFT JOIN staff s ON s.id = a.actor_id
                WHERE a.referral_id = ? ORDER BY a.at, a.id
                """), arguments: [id]).map { a in
                .with {
                    $0.id = a["id"]
                    $0.kind = a["kind"]
                    $0.actorID = a["actor_id"]
                    $0.actorName = a["display_name"] ?? (a["actor_id"] as String == "system" ? "Haven" : "")
                    $0.at = .init(date: StoredTime.date(a["at"]))
                    $0.note = a["note"]
                    $0.toStaffID = a["to_staff_id"]
                    $0.disposition = a["disposition"]
                }
            }
            r.external = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM referrals_external WHERE referral_id = ? ORDER BY created_at"), arguments: [id]).map { e in
                let updates = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM referrals_external_updates WHERE external_id = ? ORDER BY at"), arguments: [e["id"] as String])
                return .with {
                    $0.id = e["id"]
                    $0.provider = e["provider"]
                    $0.sentOn = e["sent_on"]
                    $0.status = updates.last?["status"] ?? "sent"
                    $0.updatedAt = .init(date: StoredTime.date(updates.last?["at"] ?? e["created_at"]))
                    $0.history = updates.map { u in
                        let day = ISO8601DateFormatter().string(from: StoredTime.date(u["at"])).prefix(10)
                        return "\(day) \(u["status"] as String)" + ((u["note"] as String).isEmpty ? "" : ": \(u["note"] as String)")
                    }
                }
            }
        }
    }
}
