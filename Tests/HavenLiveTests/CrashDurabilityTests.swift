#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDB
import HavenProto
import HavenRPCClient
import HavenScreeningProto
import HavenTestSupport
import HavenLocking
import Testing

/// Nothing acknowledged is lost: concurrent clients create concerns and
/// submit acute ASQ screenings while havend is killed with SIGKILL at random
/// moments and restarted, again and again. Afterwards every acknowledged
/// write is in the database, the audit chain verifies, the file passes
/// `PRAGMA integrity_check`, every outbox event reached every plugin, and
/// every acute ASQ has its emergency referral.
///
/// The suite runs a short version; `HAVEN_CRASH_KILLS=200 Scripts/test
/// --filter CrashDurabilityTests` runs a long one (Docs/reliability.md).
@Suite(.timeLimit(.minutes(10))) struct CrashDurabilityTests {
    static var kills: Int { Int(ProcessInfo.processInfo.environment["HAVEN_CRASH_KILLS"] ?? "") ?? 6 }

    /// What the daemon acknowledged, and what the clients attempted.
    final class Ledger: Sendable {
        struct State {
            var concerns: [String] = []
            var screenings: [String] = []
            var attempts = 0
            var unanswered = 0
        }
        let state = Locked(State())
        func attempt() { state.withLock { $0.attempts += 1 } }
        func lostConnection() { state.withLock { $0.unanswered += 1 } }
        func acknowledged(concern id: String) { state.withLock { $0.concerns.append(id) } }
        func acknowledged(screening id: String) { state.withLock { $0.screenings.append(id) } }
        var snapshot: State { state.withLock { $0 } }
    }

    @Test func everyAcknowledgedWriteSurvivesRepeatedSIGKILL() async throws {
        let directory = TemporaryDirectory(prefix: "crash")
        let config = try directory.write("havend.toml", "[plugins]\nenabled = [\"screening\", \"referrals\"]\n")
        let daemon = try await DaemonProcess(arguments: ["--config", config], directory: directory).start()
        let tokens = try await daemon.seedSchool()
        let ledger = Ledger()

        for _ in 0..<Self.kills {
            let writers = Task {
                await withTaskGroup(of: Void.self) { group in
                    for n in 0..<6 {
                        group.addTask { await Self.writeConcerns(daemon, token: tokens["teacher"]!, student: "stu-1-\(n % 3 + 1)", ledger) }
                    }
                    for n in 0..<2 {
                        group.addTask { await Self.submitScreenings(daemon, token: tokens["counselor"]!, student: "stu-1-\(n + 1)", ledger) }
                    }
                }
            }
            // A random moment: right after start, mid-batch, or after a second of writes.
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...1_200)))
            let status = try await daemon.stop(signal: SIGKILL)
            #expect(status == SIGKILL, "havend was killed, not stopped: \(status)")
            await writers.value
            try await daemon.start()
        }

        // The daemon that survived the kills: the audit chain, and delivery to every plugin.
        let admin = try await daemon.client()
        let verified: Haven_V1_VerifyAuditResponse = try await admin.unary("haven.v1.Audit", "Verify", Haven_V1_VerifyAuditRequest())
        #expect(verified.ok, "the audit chain broke at \(verified.firstBadSequence): \(verified.problem)")
        await admin.close()
        let database = try DatabaseQueue(path: daemon.dataDirectory + "/haven.sqlite", configuration: {
            var c = Configuration()
            c.readonly = true
            return c
        }())
        let deadline = ContinuousClock.now + .seconds(30)
        var undelivered: [String] = []
        repeat {
            undelivered = try await database.read { db in
                let head = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM outbox") ?? 0
                return try String.fetchAll(db, sql: "SELECT subscriber || ' at ' || last_seq || ' of \(head)' FROM outbox_cursors WHERE last_seq < ?", arguments: [head])
            }
            if undelivered.isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        #expect(undelivered.isEmpty, "outbox events not delivered: \(undelivered)")
        try await daemon.stop()

        let ledgerState = ledger.snapshot
        let (lostConcerns, lostScreenings, missingReferrals, integrity, subscribers) = try await database.read { db in
            let lostConcerns = try ledgerState.concerns.filter { try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM concerns WHERE id = ?", arguments: [$0]) != 1 }
            let lostScreenings = try ledgerState.screenings.filter {
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM screening_results WHERE administration_id = ?", arguments: [$0]) == 0
            }
            let missingReferrals = try ledgerState.screenings.filter {
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM referrals WHERE source_id = ? AND priority = 'emergency'", arguments: [$0]) == 0
            }
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            let subscribers = try String.fetchAll(db, sql: "SELECT subscriber FROM outbox_cursors ORDER BY 1")
            return (lostConcerns, lostScreenings, missingReferrals, integrity, subscribers)
        }
        print("""
            crash durability: \(Self.kills) kills, \(ledgerState.attempts) writes attempted, \
            \(ledgerState.concerns.count + ledgerState.screenings.count) acknowledged \
            (\(ledgerState.concerns.count) concerns, \(ledgerState.screenings.count) acute ASQ submissions), \
            \(ledgerState.unanswered) cut off unanswered, \(lostConcerns.count + lostScreenings.count) lost, \
            \(missingReferrals.count) emergency referrals missing
            """)
        #expect(ledgerState.concerns.count > Self.kills, "the writers wrote between kills")
        #expect(lostConcerns.isEmpty, "acknowledged concerns lost: \(lostConcerns)")
        #expect(lostScreenings.isEmpty, "acknowledged screenings lost: \(lostScreenings)")
        #expect(missingReferrals.isEmpty, "acute ASQ submissions without an emergency referral: \(missingReferrals)")
        #expect(integrity == ["ok"], "integrity_check: \(integrity)")
        #expect(subscribers.contains { $0.contains("referrals") }, "the referral plugin follows the outbox: \(subscribers)")
    }

    /// Creates concerns one after another until the connection dies.
    static func writeConcerns(_ daemon: DaemonProcess, token: String, student: String, _ ledger: Ledger) async {
        guard let client = try? await daemon.client(metadata: [("authorization", "Bearer \(token)")]) else { return }
        defer { Task { await client.close() } }
        while true {
            ledger.attempt()
            do {
                let created: Haven_V1_CreateConcernResponse = try await client.unary("haven.v1.Concerns", "Create", Haven_V1_CreateConcernRequest.with {
                    $0.studentIds = [student]
                    $0.category = "withdrawal_mood"
                    $0.severity = "moderate"
                    $0.narrative = "Synthetic crash-test concern."
                })
                for concern in created.concerns { ledger.acknowledged(concern: concern.id) }
            } catch {
                ledger.lostConnection()
                return
            }
        }
    }

    /// Runs acute-positive ASQs (question 5 yes) until the connection dies;
    /// a submission counts once Submit is acknowledged.
    static func submitScreenings(_ daemon: DaemonProcess, token: String, student: String, _ ledger: Ledger) async {
        guard let client = try? await daemon.client(metadata: [("authorization", "Bearer \(token)")]) else { return }
        defer { Task { await client.close() } }
        let service = "haven.screening.v1.Screening"
        while true {
            ledger.attempt()
            do {
                let started: Haven_Screening_V1_Administration = try await client.unary(service, "Start", Haven_Screening_V1_StartRequest.with {
                    $0.studentID = student; $0.instrumentID = "asq"; $0.reason = "said they want to die (synthetic)"
                })
                let _: Haven_Screening_V1_Administration = try await client.unary(service, "Answer", Haven_Screening_V1_AnswerRequest.with {
                    $0.administrationID = started.id
                    $0.answers = zip(["1", "2", "3", "4", "5"], ["no", "yes", "no", "no", "yes"]).map { a in .with { $0.linkID = a.0; $0.value = a.1 } }
                })
                let _: Haven_Screening_V1_Administration = try await client.unary(service, "Submit", Haven_Screening_V1_SubmitRequest.with { $0.administrationID = started.id })
                ledger.acknowledged(screening: started.id)
            } catch {
                ledger.lostConnection()
                return
            }
        }
    }
}
