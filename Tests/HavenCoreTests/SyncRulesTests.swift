import Foundation
import GRDB
@testable import HavenCore
import HavenPluginAPI
import HavenProto
import HavenRPCServer
import HavenStorage
import HavenTestSupport
import HavenWire
import Testing

/// The conflict rule, the row checks and a node's push, in-process: what
/// sync refuses, it names (row, table, column), and a refused batch
/// changes nothing (Docs/sync.md).
@Suite(.serialized) struct SyncRulesTests {
    @Test func aCloseLosesToAConcurrentChangeThatKeepsTheRecordOpenOtherwiseTheLaterWins() {
        let close = StatusChange(id: "b", status: "closed", at: 200)
        let monitor = StatusChange(id: "a", status: "monitoring", at: 100)
        #expect(ConflictRule.decide(close, monitor) == ConflictDecision(winner: "a", loser: "b", rule: ConflictRule.closeLoses))
        #expect(ConflictRule.decide(monitor, close) == ConflictDecision(winner: "a", loser: "b", rule: ConflictRule.closeLoses))
        let triage = StatusChange(id: "c", status: "triaged", at: 300)
        #expect(ConflictRule.decide(monitor, triage).winner == "c")
        let sameTime = StatusChange(id: "d", status: "triaged", at: 100)
        #expect(ConflictRule.decide(monitor, sameTime).winner == "d", "ties go to the higher id")
        #expect(ConflictRule.conflict(triage, sameTime) == nil, "two changes to the same status agree")
    }

    static let table = SyncTable(
        name: "things", columns: [.init("id", .text), .init("count", .integer), .init("note", .optionalText), .init("score", .optionalReal)],
        pull: "1")

    static func row(_ values: [(String, Haven_V1_SyncValue.OneOf_Value?)], table: String = "things") -> Haven_V1_SyncRow {
        .with {
            $0.table = table
            $0.key = "k"
            $0.values = values.map { name, value in .with { $0.column = name; $0.value = value } }
        }
    }

    @Test func aReceivedRowIsCheckedColumnByColumnAndTheErrorSaysWhere() throws {
        let tables = ["things": Self.table]
        let good = Self.row([("id", .text("x")), ("count", .integer(2)), ("note", .null(true)), ("score", .real(1.5))])
        let (_, decoded) = try SyncRowCodec.decode(good, position: 0, tables: tables)
        #expect(decoded.text("id") == "x" && decoded.integer("count") == 2)

        func problem(_ message: Haven_V1_SyncRow) -> String {
            do {
                _ = try SyncRowCodec.decode(message, position: 3, tables: tables)
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(problem(Self.row([], table: "audit_log")).contains("rows[3]: table \"audit_log\" is not accepted here"))
        #expect(problem(Self.row([("id", .text("x")), ("count", .text("2")), ("note", .null(true)), ("score", .null(true))]))
            .contains("rows[3] (things): column count has the wrong type"))
        #expect(problem(Self.row([("id", .text("x")), ("note", .null(true)), ("score", .null(true))])).contains("column count is missing"))
        #expect(problem(Self.row([("id", .text("x")), ("id", .text("y"))])).contains("column id given twice"))
        #expect(problem(Self.row([("id", .text("x")), ("rowid", .integer(1))])).contains("unknown column \"rowid\""))
        #expect(problem(Self.row([("id", .null(true)), ("count", .integer(1)), ("note", .null(true)), ("score", .null(true))]))
            .contains("column id has the wrong type"), "a required column cannot be null")
        #expect(problem(Self.row([("id", .text("x")), ("count", .integer(1)), ("note", .null(true)), ("score", .real(.nan))]))
            .contains("not a finite number"))
        #expect(problem(Self.row([("id", .text("x")), ("count", .integer(1)), ("note", .text("cut\u{0}short")), ("score", .null(true))]))
            .contains("rows[3] (things): note contains a NUL character"))
    }

    /// A school, a counselor with a student on their caseload, and an approved node of theirs.
    static func school() async throws -> (CoreHarness, CallContext, student: Haven_V1_Student) {
        let h = try await CoreHarness.start()
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 2).files)
        let school = try await h.schoolID(ofStudent: "stu-1-1")
        let counselor = try await h.addStaff("Node Owner", [.counselor], schools: [school])
        let student = try await h.student("stu-1-1")
        let core = h.daemon.core
        try await core.database.writer.write { db in
            try db.execute(sql: "INSERT INTO caseload (staff_id, student_id, assigned_by, assigned_at) VALUES (?, ?, 'test', 0)",
                           arguments: [counselor, student.id])
            try db.execute(sql: """
                INSERT INTO nodes (id, name, fingerprint, owner_staff_id, status, requested_at) VALUES ('node-test', 'laptop', 'sha256:00', ?, 'approved', 0)
                """, arguments: [counselor])
        }
        let caller = Caller(peer: nil, authMethod: .certificate, staffID: counselor, displayName: "Node Owner", roles: [.counselor], nodeID: "node-test")
        let call = ServerCall(streamID: 1, service: "haven.v1.Sync", method: "Push", payload: [], metadata: Metadata(), peer: nil,
                              connectionID: 1, deadline: nil, certificateFingerprint: "sha256:00", isRemote: true)
        return (h, CallContext(call: call, caller: caller, logger: CoreHarness.quiet), student)
    }

    static func concernRow(id: String, student: Haven_V1_Student, reporter: String, node: String = "node-test") -> Haven_V1_SyncRow {
        let values: [(String, Haven_V1_SyncValue.OneOf_Value)] = [
            ("id", .text(id)), ("incident_id", .text(id)), ("student_id", .text(student.id)), ("school_id", .text(student.schoolID)),
            ("reporter_id", .text(reporter)), ("category", .text("withdrawal_mood")), ("severity", .text("low")), ("narrative", .text("quiet")),
            ("observed_at", .integer(1)), ("location", .text("")), ("told_lead_in_person", .text("")), ("created_at", .integer(1)),
            ("origin_node", .text(node)),
        ]
        return .with {
            $0.table = "concerns"
            $0.key = id
            $0.values = values.map { name, value in .with { $0.column = name; $0.value = value } }
        }
    }

    @Test func aPushWithOneBadRowIsRefusedWholeAndNamesTheRow() async throws {
        let (h, context, student) = try await Self.school()
        defer { Task { await h.stop() } }
        let core = h.daemon.core
        let owner = context.caller.staffID!
        let good = RecordID.make(), forged = RecordID.make(), elsewhere = RecordID.make()
        func push(_ rows: [Haven_V1_SyncRow]) async -> RPCError? {
            do {
                _ = try await SyncServer(core: core).push(.with { $0.rows = rows }, context: context)
                return nil
            } catch {
                return error as? RPCError
            }
        }
        // Another staff member's record: a node speaks only for its owner.
        let notMine = await push([Self.concernRow(id: good, student: student, reporter: owner),
                                  Self.concernRow(id: forged, student: student, reporter: "someone-else")])
        #expect(notMine?.code == .invalidArgument)
        #expect(notMine?.message.contains("rows[1]") == true && notMine?.message.contains("reporter_id must be the node's owner") == true,
                "\(String(describing: notMine))")
        // A row claiming another node's origin.
        let wrongOrigin = await push([Self.concernRow(id: elsewhere, student: student, reporter: owner, node: "node-other")])
        #expect(wrongOrigin?.message.contains("origin_node must be the pushing node") == true)
        // A table nodes may not write.
        let audit = await push([.with { $0.table = "grants"; $0.key = "g" }])
        #expect(audit?.message.contains("table \"grants\" is not accepted here") == true)
        let stored = try await core.database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM concerns WHERE id IN (?, ?, ?)", arguments: [good, forged, elsewhere])!
        }
        #expect(stored == 0, "a refused batch changes nothing")

        // The good row alone is accepted, once; sent again it is a duplicate.
        let first = try await SyncServer(core: core).push(.with { $0.rows = [Self.concernRow(id: good, student: student, reporter: owner)] }, context: context)
        let again = try await SyncServer(core: core).push(.with { $0.rows = [Self.concernRow(id: good, student: student, reporter: owner)] }, context: context)
        #expect(first.accepted == 1 && again.accepted == 0 && again.duplicates == 1)
        let announced = try await core.database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox WHERE type = 'concern.created' AND subject_id = ?", arguments: [good])!
        }
        #expect(announced == 1, "routed once")
    }

    @Test func anAuditEntryThatDoesNotContinueTheRecordedHeadIsRefusedAsDataLoss() async throws {
        let (h, context, _) = try await Self.school()
        defer { Task { await h.stop() } }
        let core = h.daemon.core
        func entry(seq: Int64, previous: String, actor: String) -> Haven_V1_SyncAuditEntry {
            let data = AuditEntryData(id: "e\(seq)", at: seq, actorID: actor, actorName: "", actorRoles: "", action: "concern.read",
                                      studentID: "", recordIDs: "", fields: "", purpose: "", outcome: "allowed", method: "", node: "node-test")
            return .with {
                $0.seq = seq; $0.id = data.id; $0.atMs = data.at; $0.actorID = actor; $0.action = data.action; $0.outcome = data.outcome
                $0.node = data.node; $0.prevHash = previous
                $0.hash = AuditLog.hash(previous: previous, seq: seq, data)
            }
        }
        let one = entry(seq: 1, previous: AuditLog.genesis, actor: "a")
        let two = entry(seq: 2, previous: one.hash, actor: "a")
        let accepted = try await SyncServer(core: core).push(.with { $0.audit = [one, two] }, context: context)
        #expect(accepted.auditHeadSeq == 2 && accepted.auditHeadHash == two.hash)
        // Entry 2 rewritten (and re-hashed) after it was synced.
        let rewritten = entry(seq: 2, previous: one.hash, actor: "b")
        do {
            _ = try await SyncServer(core: core).push(.with { $0.audit = [rewritten, entry(seq: 3, previous: rewritten.hash, actor: "b")] }, context: context)
            Issue.record("a rewritten history was accepted")
        } catch let error as RPCError {
            #expect(error.code == .dataLoss)
            #expect(error.message.contains("audit entry 2 differs"), "\(error.message)")
        }
        // A chain that skips ahead of the recorded head.
        do {
            _ = try await SyncServer(core: core).push(.with { $0.audit = [entry(seq: 3, previous: String(repeating: "1", count: 64), actor: "a")] }, context: context)
            Issue.record("a broken link was accepted")
        } catch let error as RPCError {
            #expect(error.code == .dataLoss && error.message.contains("does not continue the chain head"), "\(error.message)")
        }
    }

    @Test func aRowTheServerCannotTakeNowIsRefusedAloneAndTheRestOfTheBatchIsKept() async throws {
        let (h, context, student) = try await Self.school()
        defer { Task { await h.stop() } }
        let core = h.daemon.core
        let owner = context.caller.staffID!
        let concern = RecordID.make(), orphan = RecordID.make(), future = RecordID.make()
        let entryValues: (String, String, Int64) -> [(String, Haven_V1_SyncValue.OneOf_Value)] = { id, concernID, at in
            [("id", .text(id)), ("concern_id", .text(concernID)), ("kind", .text("note")), ("author_id", .text(owner)), ("created_at", .integer(at)),
             ("body", .text("spoke with family")), ("field", .text("")), ("old_value", .text("")), ("new_value", .text("")), ("status", .text("")),
             ("disposition", .text("")), ("origin_node", .text("node-test"))]
        }
        func entry(_ id: String, concern: String, at: Int64) -> Haven_V1_SyncRow {
            .with {
                $0.table = "concern_entries"
                $0.key = id
                $0.values = entryValues(id, concern, at).map { name, value in .with { $0.column = name; $0.value = value } }
            }
        }
        let response = try await SyncServer(core: core).push(.with {
            $0.rows = [Self.concernRow(id: concern, student: student, reporter: owner),
                       entry(orphan, concern: RecordID.make(), at: 1),
                       entry(future, concern: concern, at: StoredTime.ms(Date()) + 86_400_000)]
        }, context: context)
        #expect(response.accepted == 1)
        #expect(response.rejected.map(\.key) == [orphan, future])
        #expect(response.rejected.first?.reason.contains("has no concern") == true, "\(response.rejected)")
        #expect(response.rejected.last?.reason.contains("in the future") == true, "\(response.rejected)")
        let audited = try await core.database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_log WHERE action = 'sync.reject'")!
        }
        #expect(audited == 2, "each refusal is audited")
    }
}
