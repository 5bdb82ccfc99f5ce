import Foundation
import GRDB
import HavenPluginAPI
import HavenProto
import HavenStorage
import HavenWire

/// haven.v1.Audit: who looked at a child's record, what a person looked at,
/// and whether the chain is intact. There is no way to delete entries.
struct AuditService {
    let core: CoreModule

    var definition: ServiceDefinition {
        ServiceDefinition(name: "haven.v1.Audit", methods: [
            .unary("Log", Haven_V1_AuditLogRequest.self, Haven_V1_AuditLogResponse.self, access: .staff) { request, context in
                let limit = request.limit <= 0 ? 100 : min(Int(request.limit), 1000)
                return try await core.read(context) { db, trail in
                    let caller = context.caller
                    let student = try request.studentID.nonEmpty.map { try core.canonicalStudentID($0, db: db) }
                    let actor = request.actorID.nonEmpty
                    if !caller.has(.admin) {
                        if let student {
                            guard caller.hasAny([.administrator]) || caller.hasAny(AccessPolicy.counselorLevel) else {
                                throw AccessDenied("the record of who looked at a student is for administrators and counselor-level staff", studentID: student)
                            }
                            _ = try core.requireAccess(caller, studentID: student, db: db)
                        } else if actor != caller.staffID {
                            throw AccessDenied("you can read the audit log of your own actions, or of students you can see")
                        }
                    }
                    var clauses: [String] = []
                    var arguments: StatementArguments = []
                    if let student { clauses.append("a.student_id = ?"); arguments += [student] }
                    if let actor { clauses.append("a.actor_id = ?"); arguments += [actor] }
                    if request.hasFrom { clauses.append("a.at >= ?"); arguments += [request.from.ms] }
                    if request.hasTo { clauses.append("a.at < ?"); arguments += [request.to.ms] }
                    if request.beforeSequence > 0 { clauses.append("a.seq < ?"); arguments += [request.beforeSequence] }
                    let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
                    let rows = try Row.fetchAll(db, sql: "SELECT * FROM audit_log a \(whereClause) ORDER BY a.seq DESC LIMIT ?",
                                                arguments: arguments + [limit])
                    trail.record(AuditRecord(action: "audit.read", studentID: student, recordIDs: actor.map { [$0] } ?? []))
                    return .with { $0.entries = rows.map(Self.entry) }
                }
            },
            .unary("Verify", Haven_V1_VerifyAuditRequest.self, Haven_V1_VerifyAuditResponse.self, access: .roles([.admin])) { _, context in
                let result = try await core.database.pool.read { db in try AuditLog.verify(db) }
                try await core.perform(context) { db in
                    try core.audit(AuditRecord(action: "audit.verify", purpose: result.ok ? "" : "first bad entry \(result.firstBadSequence)",
                                               outcome: result.ok ? "allowed" : "chain_broken"), context: context, db: db)
                }
                return .with {
                    $0.ok = result.ok
                    $0.entriesChecked = result.checked
                    $0.firstBadSequence = result.firstBadSequence
                    $0.problem = result.problem
                    $0.headHash = result.headHash
                }
            },
        ])
    }

    static func entry(_ row: Row) -> Haven_V1_AuditEntry {
        Haven_V1_AuditEntry.with {
            $0.sequence = row["seq"]
            $0.id = row["id"]
            $0.at = .init(ms: row["at"])
            $0.actorID = row["actor_id"]
            $0.actorName = row["actor_name"]
            $0.actorRoles = row["actor_roles"]
            $0.action = row["action"]
            $0.studentID = row["student_id"]
            $0.recordIds = (row["record_ids"] as String).split(separator: ",").map(String.init)
            $0.fields = (row["fields"] as String).split(separator: ",").map(String.init)
            $0.purpose = row["purpose"]
            $0.outcome = row["outcome"]
            $0.method = row["method"]
            $0.node = row["node"]
            $0.hash = row["hash"]
        }
    }
}
