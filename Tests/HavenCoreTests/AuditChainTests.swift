import Foundation
import GRDB
import HavenProto
import HavenRPCClient
import HavenTestSupport
import Testing

/// Direct access to the audit table in the SQLite file, as someone with the
/// file (not the daemon) could tamper with it.
enum AuditFile {
    static func tamper(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;")
            try db.execute(sql: sql)
        }
        try queue.close()
    }

    static func dump(_ path: String) throws -> String {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log").map { "\($0)" }.joined(separator: "\n")
        }
    }
}

/// The hash chain detects each kind of tampering done on the SQLite file.
@Suite(.serialized) struct AuditChainTests {
    /// A harness with some audit history, stopped so the file can be edited.
    func historyThenStop() async throws -> CoreHarness {
        let h = try await CoreHarness.start()
        try await h.importRoster(SyntheticRoster.make(schools: 1, studentsPerSchool: 3).files)
        let student = try await h.student("stu-1-1").id
        for _ in 0..<4 { _ = try await h.admin.createConcern([student]) }
        await h.stop()
        return h
    }

    func verify(_ h: CoreHarness) async throws -> Haven_V1_VerifyAuditResponse {
        try await h.boot()
        let r: Haven_V1_VerifyAuditResponse = try await h.admin.unary("haven.v1.Audit", "Verify", Haven_V1_VerifyAuditRequest())
        await h.stop()
        return r
    }

    @Test func anUntouchedChainVerifies() async throws {
        let h = try await historyThenStop()
        let r = try await verify(h)
        #expect(r.ok)
        #expect(r.entriesChecked >= 6)
    }

    @Test func theDaemonRefusesToChangeOrDeleteEntries() async throws {
        let h = try await historyThenStop()
        let queue = try DatabaseQueue(path: h.databasePath)
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM audit_log WHERE seq = 1") } }
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "UPDATE audit_log SET actor_id = 'x' WHERE seq = 1") } }
        try queue.close()
    }

    @Test func aChangedByteIsDetected() async throws {
        let h = try await historyThenStop()
        // One character of one entry's action.
        try AuditFile.tamper(h.databasePath, "UPDATE audit_log SET action = replace(action, 'concern.create', 'concern.creatf') WHERE seq = 3")
        let r = try await verify(h)
        #expect(!r.ok)
        #expect(r.firstBadSequence == 3)
        #expect(r.problem.contains("changed"))
    }

    @Test func aDeletedEntryIsDetected() async throws {
        let h = try await historyThenStop()
        try AuditFile.tamper(h.databasePath, "DELETE FROM audit_log WHERE seq = 2")
        let r = try await verify(h)
        #expect(!r.ok)
        #expect(r.firstBadSequence == 2)
        #expect(r.problem.contains("missing"))
    }

    @Test func reorderedEntriesAreDetected() async throws {
        let h = try await historyThenStop()
        // Swap entries 2 and 3 (content and hashes), keeping the sequence numbers.
        try AuditFile.tamper(h.databasePath, """
            UPDATE audit_log SET seq = -2 WHERE seq = 2;
            UPDATE audit_log SET seq = 2 WHERE seq = 3;
            UPDATE audit_log SET seq = 3 WHERE seq = -2;
            """)
        let r = try await verify(h)
        #expect(!r.ok)
        #expect(r.firstBadSequence == 2)
    }

    @Test func aTruncatedTailIsDetected() async throws {
        let h = try await historyThenStop()
        try AuditFile.tamper(h.databasePath, "DELETE FROM audit_log WHERE seq > 3")
        let r = try await verify(h)
        #expect(!r.ok)
        #expect(r.problem.contains("removed from the end"))
    }

    @Test func aRewrittenEntryWithARecomputedHashStillBreaksTheChainAfterIt() async throws {
        let h = try await historyThenStop()
        try AuditFile.tamper(h.databasePath, "UPDATE audit_log SET hash = (CASE WHEN substr(hash, 1, 2) = 'ab' THEN 'cd' ELSE 'ab' END) || substr(hash, 3) WHERE seq = 2")
        // (the prefix always changes: a hash that began with "ab" was left as it was, 1 run in 256)
        let r = try await verify(h)
        #expect(!r.ok)
        #expect(r.firstBadSequence == 2)
    }
}
