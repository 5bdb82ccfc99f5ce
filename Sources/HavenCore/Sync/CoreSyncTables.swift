import GRDB
import HavenPluginAPI
import HavenStorage
import HavenWire

/// The core's synced tables (Docs/sync.md lists them). Pull conditions use
/// `:owner`, `:students` (the students the owner sees in full), `:directory`
/// (those plus the students of the owner's own reports) and `:staff` (the
/// staff those rows name).
extension CoreModule {
    var coreSyncTables: [SyncTable] {
        let origin = "origin_node = :node"
        return [
            SyncTable(
                name: "schools",
                columns: [.init("id", .text), .init("name", .text), .init("identifier", .text), .init("active", .integer),
                          .init("origin_node", .text), .init("created_at", .integer), .init("updated_at", .integer)],
                keySQL: "id || '@' || updated_at", storage: .upsert(conflictColumn: "id"),
                pull: "id IN (SELECT school_id FROM students WHERE id IN (SELECT value FROM json_each(:directory)))"),
            SyncTable(
                name: "staff",
                columns: [.init("id", .text), .init("display_name", .text), .init("email", .text), .init("active", .integer),
                          .init("origin_node", .text), .init("created_at", .integer), .init("updated_at", .integer)],
                keySQL: "id || '@' || updated_at", storage: .upsert(conflictColumn: "id"),
                pull: "id IN (SELECT value FROM json_each(:staff))"),
            SyncTable(
                name: "students",
                columns: [.init("id", .text), .init("school_id", .text), .init("given_name", .text), .init("family_name", .text),
                          .init("preferred_name", .optionalText), .init("grade", .text), .init("birth_date", .optionalText),
                          .init("active", .integer), .init("origin_node", .text), .init("created_at", .integer), .init("updated_at", .integer)],
                keySQL: "id || '@' || updated_at", storage: .upsert(conflictColumn: "id"),
                pull: "id IN (SELECT value FROM json_each(:directory))", student: "id"),
            SyncTable(
                name: "caseload",
                columns: [.init("staff_id", .text), .init("student_id", .text), .init("assigned_by", .text), .init("assigned_at", .integer)],
                keySQL: "'caseload:' || staff_id || ':' || student_id",
                pull: "staff_id = :owner AND student_id IN (SELECT value FROM json_each(:students))"),
            SyncTable(
                name: "grants",
                columns: [.init("id", .text), .init("student_id", .text), .init("grantee_id", .text), .init("granted_by", .text),
                          .init("purpose", .text), .init("law_enforcement_reason", .text), .init("created_at", .integer),
                          .init("expires_at", .integer), .init("origin_node", .text)],
                pull: "grantee_id = :owner AND student_id IN (SELECT value FROM json_each(:students))"),
            SyncTable(
                name: "grant_revocations",
                columns: [.init("grant_id", .text), .init("revoked_by", .text), .init("revoked_at", .integer), .init("reason", .text),
                          .init("origin_node", .text)],
                keySQL: "'revocation:' || grant_id",
                pull: "grant_id IN (SELECT id FROM grants WHERE grantee_id = :owner AND student_id IN (SELECT value FROM json_each(:students)))",
                student: "(SELECT student_id FROM grants g WHERE g.id = grant_id)"),
            SyncTable(
                name: "concerns",
                columns: [.init("id", .text), .init("incident_id", .text), .init("student_id", .text), .init("school_id", .text),
                          .init("reporter_id", .text), .init("category", .text), .init("severity", .text), .init("narrative", .text),
                          .init("observed_at", .integer), .init("location", .text), .init("told_lead_in_person", .text),
                          .init("created_at", .integer), .init("origin_node", .text)],
                pull: "student_id IN (SELECT value FROM json_each(:students)) OR reporter_id = :owner",
                push: .init(authorColumn: "reporter_id", selection: origin) { [unowned self] row, caller, db in
                    guard let student = try self.student(row.text("student_id"), db: db) else {
                        throw RPCError.failedPrecondition("the server has no student \(row.text("student_id"))")
                    }
                    guard row.text("school_id") == student.schoolID else { throw RPCError.invalidArgument("school_id is not the student's school") }
                    try ConcernRules.requireOneOf("severity", row.text("severity"), ConcernRules.severities)
                    try ConcernRules.requireOneOf("category", row.text("category"), self.settings.categories.map(\.code))
                    if let reason = try self.policy.canReport(caller, student: student, db: db) {
                        throw AccessDenied(reason, studentID: student.id)
                    }
                },
                received: { [unowned self] rows, receipt, db in try self.receivedConcerns(rows, receipt, db) },
                onRemove: ["DELETE FROM concern_current WHERE concern_id = :key"]),
            SyncTable(
                name: "concern_entries",
                columns: [.init("id", .text), .init("concern_id", .text), .init("kind", .text), .init("author_id", .text),
                          .init("created_at", .integer), .init("body", .text), .init("field", .text), .init("old_value", .text),
                          .init("new_value", .text), .init("status", .text), .init("disposition", .text), .init("origin_node", .text)],
                pull: """
                    concern_id IN (SELECT id FROM concerns WHERE student_id IN (SELECT value FROM json_each(:students)))
                    OR (author_id = :owner AND concern_id IN (SELECT id FROM concerns WHERE reporter_id = :owner))
                    """,
                push: .init(authorColumn: "author_id", selection: origin) { [unowned self] row, caller, db in
                    guard let concern = try Row.fetchOne(db.cachedStatement(sql: "SELECT student_id, reporter_id FROM concerns WHERE id = ?"),
                                                         arguments: [row.text("concern_id")]) else {
                        throw RPCError.failedPrecondition("the server has no concern \(row.text("concern_id"))")
                    }
                    switch row.text("kind") {
                    case "note": break
                    case "amendment":
                        try ConcernRules.requireOneOf("field", row.text("field"), ConcernRules.amendableFields)
                    case "status":
                        try ConcernRules.requireOneOf("status", row.text("status"), ConcernRules.statuses)
                        if row.text("status") == "closed" {
                            try ConcernRules.requireOneOf("disposition", row.text("disposition"), self.settings.dispositions.map(\.code))
                        }
                    default: throw RPCError.invalidArgument("kind \"\(row.text("kind"))\" is not note, amendment or status")
                    }
                    let studentID: String = concern["student_id"]
                    let decision = try self.access(for: caller, studentID: studentID, db: db)
                    let ownNote = row.text("kind") == "note" && (concern["reporter_id"] as String) == caller.staffID
                    guard decision.isFull || ownNote else { throw AccessDenied(decision.explanation, studentID: studentID) }
                },
                received: { [unowned self] rows, receipt, db in try self.receivedEntries(rows, receipt, db) },
                student: "(SELECT student_id FROM concerns c WHERE c.id = concern_id)"),
        ]
    }

    /// Conflicts come last: they name records of any table before them.
    var conflictSyncTable: SyncTable {
        SyncTable(
            name: "sync_conflicts",
            columns: [.init("id", .text), .init("subject_type", .text), .init("subject_id", .text), .init("student_id", .text),
                      .init("winner_entry_id", .text), .init("loser_entry_id", .text), .init("rule", .text),
                      .init("detected_at", .integer), .init("origin_node", .text)],
            pull: "student_id IN (SELECT value FROM json_each(:students))",
            received: { [unowned self] rows, _, db in
                for row in rows { try self.syncRegistry.rederive(row.text("subject_type"), row.text("subject_id"), db) }
            })
    }

    private func receivedConcerns(_ rows: [SyncRow], _ receipt: SyncReceipt, _ db: Database) throws {
        for row in rows {
            let id = row.text("id")
            try ConcernStore.rederiveCurrent(db, concernID: id)
            guard receipt.onServer, let context = receipt.context, let student = try student(row.text("student_id"), db: db) else { continue }
            // Routing and escalation run here, on the server, from this event.
            try publish(NewEvent(
                type: "concern.created", studentID: student.id, schoolID: student.schoolID, subjectID: id,
                attributes: ["category": row.text("category"), "severity": row.text("severity"), "grade": student.grade,
                             "reporter_id": row.text("reporter_id"), "incident_id": row.text("incident_id"), "origin_node": row.text("origin_node")]), db: db)
            try audit(AuditRecord(action: "concern.create", studentID: student.id, recordIDs: [id],
                                  fields: ["category", "severity", "narrative", "observed_at", "location"], purpose: "synced from \(row.text("origin_node"))"),
                      context: context, db: db)
        }
    }

    private func receivedEntries(_ rows: [SyncRow], _ receipt: SyncReceipt, _ db: Database) throws {
        for row in rows {
            let concernID = row.text("concern_id")
            let kind = row.text("kind")
            guard let concern = try Row.fetchOne(db.cachedStatement(sql: "SELECT student_id, school_id FROM concerns WHERE id = ?"), arguments: [concernID]) else { continue }
            let studentID: String = concern["student_id"]
            if receipt.onServer, kind == "status" {
                let incoming = StatusChange(id: row.text("id"), status: row.text("status"), at: row.integer("created_at"))
                let held = try receipt.concurrent(db, """
                    SELECT id, status, created_at AS at, origin_node FROM concern_entries e
                    WHERE concern_id = :subject AND kind = 'status' AND id != :incoming
                    """, ["subject": concernID, "incoming": incoming.id])
                for other in held {
                    if let decision = ConflictRule.conflict(incoming, other) { try receipt.recordConflict(db, "concern", concernID, studentID, decision) }
                }
            }
            try ConcernStore.rederiveCurrent(db, concernID: concernID)
            guard receipt.onServer, let context = receipt.context else { continue }
            // A change that lost a conflict is history, not news: no event.
            let lost = try Bool.fetchOne(db, sql: "SELECT 1 FROM sync_conflicts WHERE loser_entry_id = ?", arguments: [row.text("id")]) == true
            var attributes = ["change": kind == "status" ? "status:\(row.text("status"))" : kind == "amendment" ? "amendment:\(row.text("field"))" : "note",
                              "entry_id": row.text("id"), "origin_node": row.text("origin_node")]
            if kind == "status" { attributes["status"] = row.text("status") }
            if let current = try Row.fetchOne(db.cachedStatement(sql: "SELECT category, severity FROM concern_current WHERE concern_id = ?"), arguments: [concernID]) {
                attributes["category"] = current["category"]
                attributes["severity"] = current["severity"]
            }
            if !lost {
                try publish(NewEvent(type: "concern.updated", studentID: studentID, schoolID: concern["school_id"], subjectID: concernID,
                                     attributes: attributes), db: db)
            }
            try audit(AuditRecord(action: "concern.\(kind == "status" ? "status" : kind == "amendment" ? "amend" : "note")", studentID: studentID,
                                  recordIDs: [concernID, row.text("id")], purpose: "synced from \(row.text("origin_node"))"), context: context, db: db)
        }
    }
}
