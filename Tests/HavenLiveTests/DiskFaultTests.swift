#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HavenProcess
import GRDB
import HavenProto
import HavenRPCClient
import HavenTestSupport
import HavenWire
import Testing

/// A real havend whose data directory is a small tmpfs: it fills up, and it
/// is remounted read-only. Callers of a full disk get a status that says so
/// and writes succeed again once space returns, without a restart; on a
/// read-only disk havend refuses to start and says why. Nothing acknowledged
/// is lost. Mounting needs root (as CI runs).
@Suite(.serialized, .timeLimit(.minutes(2)), .enabled(if: TmpfsMount.available, "mounting a tmpfs needs root"))
struct DiskFaultTests {
    @discardableResult
    static func sh(_ command: String) -> Int32 {
        guard let shell = try? ChildProcess("/bin/sh", ["-c", command], stderr: .null) else { return -1 }
        shell.waitBlocking()
        return shell.terminationStatus
    }

    static func createConcern(_ client: RPCClient, _ narrative: String) async throws -> String {
        let created: Haven_V1_CreateConcernResponse = try await client.unary("haven.v1.Concerns", "Create", Haven_V1_CreateConcernRequest.with {
            $0.studentIds = ["stu-1-1"]
            $0.category = "withdrawal_mood"
            $0.severity = "moderate"
            $0.narrative = narrative
        })
        return created.concerns[0].id
    }

    /// The status a call failed with, or nil if it succeeded.
    static func statusOf(_ body: () async throws -> Void) async -> RPCError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? RPCError ?? RPCError(.unknown, "\(error)")
        }
    }

    @Test func aFullOrReadOnlyDiskIsReportedLosesNothingAndRecovers() async throws {
        let directory = TemporaryDirectory(prefix: "diskfault")
        let data = directory.file("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try #require(Self.sh("mount -t tmpfs -o size=3m tmpfs '\(data)'") == 0)
        defer { Self.sh("umount -l '\(data)'") }
        let daemon = try await DaemonProcess(directory: directory).start()
        let tokens = try await daemon.seedSchool()
        let teacher = try await daemon.client(metadata: [("authorization", "Bearer \(tokens["teacher"]!)")])
        let narrative = "Synthetic disk-fault concern. " + String(repeating: "Seemed withdrawn and tired all week. ", count: 100)

        // Fill the disk.
        var acknowledged: [String] = []
        var refusal: RPCError?
        for _ in 0..<2_000 {
            do {
                acknowledged.append(try await Self.createConcern(teacher, narrative))
            } catch let error as RPCError {
                refusal = error
                break
            }
        }
        let full = try #require(refusal, "3 MiB never filled up")
        #expect(full.code == .resourceExhausted, "\(full)")
        #expect(full.message.contains("disk holding the Haven database is full"), "\(full.message)")
        // The daemon stays up: health answers, and further writes are refused the same way.
        let admin = try await daemon.client()
        let health: Haven_V1_HealthResponse = try await admin.unary("haven.v1.Daemon", "Health", Haven_V1_HealthRequest())
        #expect(health.status == .serving)
        let again = await Self.statusOf { _ = try await Self.createConcern(teacher, narrative) }
        #expect(again?.code == .resourceExhausted)

        // Space returns: the next writes succeed, without a restart.
        try #require(Self.sh("mount -o remount,size=64m '\(data)'") == 0)
        acknowledged.append(try await Self.createConcern(teacher, narrative))

        await teacher.close()
        await admin.close()

        // A read-only disk (a remount after errors, a restored backup on a
        // read-only volume): havend refuses to start, saying so, and starts
        // normally once the disk is writable again.
        try await daemon.stop()
        try #require(Self.sh("mount -o remount,ro '\(data)'") == 0)
        var startError = ""
        do {
            try await daemon.start(timeout: .seconds(20))
            try await daemon.stop()
        } catch {
            startError = "\(error)"
        }
        #expect(startError.contains("read-only"), "havend on a read-only disk: \(startError.suffix(600))")
        try #require(Self.sh("mount -o remount,rw '\(data)'") == 0)
        try await daemon.start()
        let teacherAgain = try await daemon.client(metadata: [("authorization", "Bearer \(tokens["teacher"]!)")])
        acknowledged.append(try await Self.createConcern(teacherAgain, narrative))
        await teacherAgain.close()
        let auditor = try await daemon.client()
        let verified: Haven_V1_VerifyAuditResponse = try await auditor.unary("haven.v1.Audit", "Verify", Haven_V1_VerifyAuditRequest())
        #expect(verified.ok, "\(verified.problem)")
        await auditor.close()

        // Every acknowledged concern is in the file, which is sound.
        try await daemon.stop(signal: SIGKILL)
        let database = try DatabaseQueue(path: data + "/haven.sqlite")
        let ids = try String(data: JSONEncoder().encode(acknowledged), encoding: .utf8)!
        let (present, integrity) = try await database.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM concerns WHERE id IN (SELECT value FROM json_each(?))",
                              arguments: [ids]) ?? 0,
             try String.fetchAll(db, sql: "PRAGMA integrity_check"))
        }
        try database.close()
        print("disk faults: \(acknowledged.count) concerns acknowledged around a full and a read-only disk, \(acknowledged.count - present) lost")
        #expect(present == acknowledged.count)
        #expect(integrity == ["ok"])
    }
}

/// Whether this process may mount a tmpfs (root, with the capability to mount).
enum TmpfsMount {
    static let available: Bool = {
        guard getuid() == 0 else { return false }
        let probe = TemporaryDirectory(prefix: "mount-probe")
        let point = probe.file("m")
        try? FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
        guard DiskFaultTests.sh("mount -t tmpfs -o size=1m tmpfs '\(point)'") == 0 else { return false }
        DiskFaultTests.sh("umount '\(point)'")
        return true
    }()
}
