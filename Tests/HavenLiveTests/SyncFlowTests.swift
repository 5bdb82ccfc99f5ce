#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDB
import HavenProto
import HavenRPCClient
import HavenScreeningProto
import HavenTLS
import HavenWire
import HavenTestSupport
import Testing

/// Two real daemons on loopback — a school server listening on TCP+TLS and
/// a counselor's desktop — enrolled, synced, cut apart, changed on both
/// sides, killed mid-sync and revoked (issue 9, Docs/sync.md).
@Suite(.serialized) struct SyncFlowTests {
    /// A server (with routing) and a desktop that syncs only when told to.
    struct Pair {
        let server: DaemonProcess
        let desktop: DaemonProcess
        let tokens: [String: String]
        let counselorID: String
        let listen: String
        let fingerprint: String
        let desktopNode: String

        static func make(batchSize: Int = 500, desktopPlugins: Bool = false) async throws -> Pair {
            let serverDirectory = TemporaryDirectory(prefix: "havend-server")
            let rules = try serverDirectory.write("routing.toml", """
                [[rule]]
                name = "imminent"
                events = ["concern.created"]
                severities = ["imminent"]
                to = ["on_duty:counselor", "on_duty:designated_lead"]
                priority = "emergency"
                acknowledge_within = "1h"

                [[rule]]
                name = "asq-acute"
                events = ["screening.completed"]
                flags_any = ["acute_suicide_risk"]
                to = ["on_duty:counselor"]
                priority = "emergency"
                acknowledge_within = "1h"
                """)
            let serverConfig = try serverDirectory.write("havend.toml", """
                [daemon]
                mode = "server"
                [remote]
                listen = "127.0.0.1:\(try freePort())"
                [plugins]
                enabled = ["screening", "referrals"]
                [plugins.referrals]
                rules = "\(rules)"
                """)
            let server = try await DaemonProcess(arguments: ["--config", serverConfig], directory: serverDirectory).start()
            let tokens = try await server.seedSchool()
            let staff = try await json(server, ["staff", "list"])
            let counselorID = ((staff["staff"] as! [[String: Any]]).first { ($0["displayName"] as? String) == "counselor" }!)["id"] as! String
            // stu-1-3 is not the counselor's: nothing about them may reach the desktop.
            let removed = try await server.cli(["caseload", "remove", "--staff", counselorID, "stu-1-3"])
            #expect(removed.status == 0, "\(removed.stderr)")
            let identity = try await json(server, ["node", "identity"])

            let desktopDirectory = TemporaryDirectory(prefix: "havend-desktop")
            let desktopConfig = try desktopDirectory.write("havend.toml", """
                [sync]
                interval_seconds = 3600
                batch_size = \(batchSize)
                \(desktopPlugins ? "[plugins]\nenabled = [\"screening\", \"referrals\"]" : "")
                """)
            let desktop = try await DaemonProcess(arguments: ["--config", desktopConfig], directory: desktopDirectory).start()
            let desktopIdentity = try await json(desktop, ["node", "identity"])
            return Pair(server: server, desktop: desktop, tokens: tokens, counselorID: counselorID,
                        listen: identity["remoteListen"] as! String, fingerprint: identity["fingerprint"] as! String,
                        desktopNode: desktopIdentity["nodeId"] as! String)
        }

        func enrollAndApprove() async throws {
            let enrolled = try await desktop.cli(["node", "enroll", "--server", listen, "--fingerprint", fingerprint,
                                                  "--owner-token", tokens["counselor"]!, "--name", "Counselor's laptop"])
            #expect(enrolled.status == 0, "\(enrolled.stderr)")
            #expect(enrolled.stdout.contains("haven node approve \(desktopNode)"))
            let approved = try await server.cli(["node", "approve", desktopNode])
            #expect(approved.status == 0, "\(approved.stderr)")
        }

        func asCounselor(_ arguments: [String]) async throws -> CommandResult {
            try await server.cli(arguments, environment: ["HAVEN_TOKEN": tokens["counselor"]!])
        }

        func asLead(_ arguments: [String]) async throws -> CommandResult {
            try await server.cli(arguments, environment: ["HAVEN_TOKEN": tokens["lead"]!])
        }

        func asTeacher(_ arguments: [String]) async throws -> CommandResult {
            try await server.cli(arguments, environment: ["HAVEN_TOKEN": tokens["teacher"]!])
        }

        func syncNow() async throws -> [String: Any] {
            try await json(desktop, ["sync", "now"])
        }
    }

    /// A loopback port nobody listens on now (the server must keep its
    /// port across restarts, as a real one does).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The server verified every link of the desktop's chain as it arrived;
    /// the desktop's entry at the recorded head must be the one recorded.
    static func expectServerHoldsDesktopChain(_ pair: Pair) throws {
        let head = try query(pair.server) { db in
            let row = try Row.fetchOne(db, sql: "SELECT audit_head_seq, audit_head_hash FROM nodes")!
            return (seq: row["audit_head_seq"] as Int64, hash: row["audit_head_hash"] as String)
        }
        let desktopHash = try query(pair.desktop) { db in
            try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = ?", arguments: [head.seq])
        }
        #expect(head.seq > 0)
        #expect(desktopHash == head.hash)
    }

    static func json(_ daemon: DaemonProcess, _ arguments: [String], environment: [String: String] = [:]) async throws -> [String: Any] {
        let result = try await daemon.cli(arguments + ["--output", "json"], environment: environment)
        guard result.status == 0 else { throw TestFailure("haven \(arguments.joined(separator: " ")): \(result.stderr)") }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
    }

    static func addConcern(_ daemon: DaemonProcess, student: String, severity: String = "moderate", narrative: String,
                           environment: [String: String] = [:]) async throws -> (id: String, output: String) {
        var arguments = ["concern", "add", "--student", student, "--category", "withdrawal_mood", "--severity", severity, "--narrative", narrative]
        if severity == "imminent" { arguments += ["--told-lead", "no"] }
        let result = try await daemon.cli(arguments + ["--output", "json"], environment: environment)
        guard result.status == 0 else { throw TestFailure("concern add: \(result.stderr)") }
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        return ((object["concerns"] as! [[String: Any]])[0]["id"] as! String, result.stdout)
    }

    /// Rows of a daemon's database, read directly (the daemon may be running: WAL).
    static func query<T: Sendable>(_ daemon: DaemonProcess, _ body: @escaping @Sendable (Database) throws -> T) throws -> T {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: daemon.dataDirectory + "/haven.sqlite", configuration: configuration)
        defer { try? queue.close() }
        return try queue.read(body)
    }

    @Test func recordsMadeOnBothSidesWhileApartAreOnBothAfterReconnectingAndConflictsFollowTheRule() async throws {
        let pair = try await Pair.make()
        // Before approval the desktop is enrolled but may not sync.
        let enrolled = try await pair.desktop.cli(["node", "enroll", "--server", pair.listen, "--fingerprint", pair.fingerprint,
                                                   "--owner-token", pair.tokens["counselor"]!])
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        let early = try await pair.desktop.cli(["sync", "now"])
        #expect(early.status == 1)
        #expect(early.stderr.contains("approve"), "\(early.stderr)")
        #expect(try await pair.server.cli(["node", "approve", pair.desktopNode]).status == 0)

        // Concerns on the server: one about the counselor's student, one about a student who is not theirs.
        let shared = try await Self.addConcern(pair.server, student: "stu-1-1", narrative: "Sits alone at lunch all week",
                                               environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!]).id
        let hidden = try await Self.addConcern(pair.server, student: "stu-1-3", narrative: "Not the counselor's student",
                                               environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!]).id
        let first = try await pair.syncNow()
        #expect((first["pulled"] as? String).flatMap(Int.init) ?? 0 > 0)
        let onDesktop = try await Self.json(pair.desktop, ["concern", "show", shared])
        #expect(onDesktop["narrative"] as? String == "Sits alone at lunch all week")
        // Nothing about stu-1-3 is on the desktop, not even in its file.
        let hiddenStudent = ((try await Self.json(pair.server, ["student", "show", "stu-1-3"]))["student"] as! [String: Any])["id"] as! String
        let leaked = try Self.query(pair.desktop) { db in
            try Int.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM concerns WHERE id = ?1 OR student_id = ?2) + (SELECT count(*) FROM students WHERE id = ?2)
                """, arguments: [hidden, hiddenStudent])!
        }
        #expect(leaked == 0)
        let desktopStudents = try Self.query(pair.desktop) { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM students")! }
        #expect(desktopStudents == 2, "only the counselor's two students")

        // Apart: the server goes down; the desktop keeps working.
        try await pair.server.stop()
        let offline = try await Self.addConcern(pair.desktop, student: onDesktop["studentId"] as! String,
                                                severity: "imminent", narrative: "Talked about not being around next week")
        #expect(offline.output.contains("call the on-duty lead now"), "\(offline.output)")
        #expect(offline.output.contains("next sync"))
        let unsynced = try await Self.json(pair.desktop, ["concern", "show", offline.id])
        #expect(unsynced["waitingToSync"] as? Bool == true, "the desktop shows the concern is waiting to sync")
        let closed = try await pair.desktop.cli(["concern", "close", shared, "--disposition", "resolved", "--reason", "Spoke with family; settled"])
        #expect(closed.status == 0, "\(closed.stderr)")
        let cut = try await pair.desktop.cli(["sync", "now"])
        #expect(cut.status == 1)
        let waiting = try await Self.json(pair.desktop, ["sync", "status"])
        #expect((waiting["pendingPush"] as? String).flatMap(Int.init) ?? 0 >= 2)
        #expect((waiting["lastError"] as? String ?? "").isEmpty == false)

        // Meanwhile on the server: the counselor moves the same concern on, and a teacher writes a new one.
        try await pair.server.start()
        let monitored = try await pair.asCounselor(["concern", "monitor", shared, "--note", "Checking in daily"])
        #expect(monitored.status == 0, "\(monitored.stderr)")
        let serverSide = try await Self.addConcern(pair.server, student: "stu-1-2", narrative: "Missed three days",
                                                   environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!]).id

        let second = try await pair.syncNow()
        #expect(second["conflicts"] as? String == "1", "\(second)")
        // Both sides hold everything, and both derive the same state: the close lost to the concurrent change.
        for daemon in [pair.server, pair.desktop] {
            let environment = daemon === pair.server ? ["HAVEN_TOKEN": pair.tokens["counselor"]!] : [:]
            let concern = try await Self.json(daemon, ["concern", "show", shared], environment: environment)
            #expect(concern["status"] as? String == "monitoring", "\(concern)")
            let statuses = (concern["history"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
            #expect(statuses.contains("closed") && statuses.contains("monitoring"), "both versions stay in the history: \(statuses)")
            _ = try await Self.json(daemon, ["concern", "show", offline.id], environment: environment)
            _ = try await Self.json(daemon, ["concern", "show", serverSide], environment: environment)
        }
        let status = try await Self.json(pair.desktop, ["sync", "status"])
        #expect((status["conflicts"] as? [[String: Any]])?.count == 1)
        let arrived = try await Self.json(pair.desktop, ["concern", "show", offline.id])
        #expect(arrived["waitingToSync"] == nil, "synced: no longer waiting")
        let settled = second["status"] as! [String: Any]
        #expect(settled["pendingPush"] == nil, "nothing waits once the sync is done: \(settled)")

        // The offline concern was routed on the server when it arrived.
        var routed = ""
        for _ in 0..<100 {
            routed = try await pair.asCounselor(["referral", "list", "--mine"]).stdout
            if routed.contains("emergency") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(routed.contains("emergency"), "\(routed)")

        // The server holds the desktop's audit chain up to its head, and its own chain verifies.
        try Self.expectServerHoldsDesktopChain(pair)
        let verified = try await pair.server.cli(["audit", "verify"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")

        // Revoked: refused from the next connection on.
        let revoked = try await pair.server.cli(["node", "revoke", pair.desktopNode, "--reason", "laptop lost"])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        let refused = try await pair.desktop.cli(["sync", "now"])
        #expect(refused.status == 1)
        // On failure, the desktop's log says what its side saw (one run under
        // heavy load saw the CLI's connection to the desktop close instead).
        #expect(refused.stderr.contains("refused this node's certificate"), "\(refused.stderr)\ndesktop log:\n\(pair.desktop.log().suffix(4000))")
        let desktopStatus = try await pair.desktop.stop()
        #expect(desktopStatus == 0, "the desktop daemon exited with \(desktopStatus):\n\(pair.desktop.log().suffix(4000))")
        try await pair.server.stop()
    }

    @Test func aDesktopKilledMidSyncLosesNothingAndDuplicatesNothing() async throws {
        let pair = try await Pair.make(batchSize: 4)
        try await pair.enrollAndApprove()
        var serverMade: [String] = []
        for n in 0..<24 {
            serverMade.append(try await Self.addConcern(pair.server, student: n % 2 == 0 ? "stu-1-1" : "stu-1-2", narrative: "server \(n)",
                                                        environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!]).id)
        }
        let desktopStudent = try await { () async throws -> String in
            _ = try await pair.syncNow()
            return try Self.query(pair.desktop) { db in try String.fetchOne(db, sql: "SELECT student_id FROM concerns LIMIT 1")! }
        }()
        var desktopMade: [String] = []
        for n in 0..<24 {
            desktopMade.append(try await Self.addConcern(pair.desktop, student: desktopStudent, narrative: "desktop \(n)").id)
        }
        for n in 24..<48 {
            serverMade.append(try await Self.addConcern(pair.server, student: "stu-1-2", narrative: "server \(n)",
                                                        environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!]).id)
        }
        // Kill the desktop at a different moment of each sync, then restart it
        // (a restarted desktop syncs at once, so each round adds work first).
        var killedMidway = 0
        for round in 0..<8 {
            for n in 0..<8 {
                desktopMade.append(try await Self.addConcern(pair.desktop, student: desktopStudent, narrative: "desktop r\(round) \(n)").id)
                serverMade.append(try await Self.addConcern(pair.server, student: "stu-1-2", narrative: "server r\(round) \(n)",
                                                            environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!]).id)
            }
            let made = desktopMade
            func progress() throws -> (sent: Int, received: Int) {
                let sent = try Self.query(pair.server) { db in
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM concerns WHERE id IN (SELECT value FROM json_each(?))",
                                     arguments: ["[" + made.map { "\"\($0)\"" }.joined(separator: ",") + "]"])!
                }
                let received = try Self.query(pair.desktop) { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM concerns")! }
                return (sent, received)
            }
            let before = try progress()
            let syncing = Task { try await pair.desktop.cli(["sync", "now"]) }
            try await Task.sleep(for: .milliseconds(100 + 40 * round))
            try await pair.desktop.stop(signal: SIGKILL)
            _ = try? await syncing.value
            let after = try progress()
            // Killed with part of the work done and part not: mid-sync.
            let target = (sent: made.count, received: made.count + serverMade.count)
            let progressed = after.sent > before.sent || after.received > before.received
            let finished = after.sent == target.sent && after.received == target.received
            if progressed && !finished { killedMidway += 1 }
            try await pair.desktop.start()
        }
        #expect(killedMidway > 0, "at least one kill landed in the middle of a sync (some of its batches done, some not)")
        let final = try await pair.desktop.cli(["sync", "now"])
        #expect(final.status == 0, "\(final.stderr)")
        if final.status != 0 { print("DESKTOP LOG\n" + pair.desktop.log().suffix(4000) + "\nSERVER LOG\n" + pair.server.log().suffix(4000)) }

        let onServer = try Self.query(pair.server) { db in
            (try Set(String.fetchAll(db, sql: "SELECT id FROM concerns")),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT subject_id FROM outbox WHERE type = 'concern.created' GROUP BY subject_id HAVING count(*) > 1)")!,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_log WHERE action = 'concern.create' AND purpose LIKE 'synced from%'")!)
        }
        #expect(Set(desktopMade).isSubset(of: onServer.0), "every desktop concern reached the server")
        #expect(onServer.1 == 0, "no concern was announced (and so routed) twice")
        #expect(onServer.2 == desktopMade.count, "each synced concern was received once")
        let onDesktop = try Self.query(pair.desktop) { db in try Set(String.fetchAll(db, sql: "SELECT id FROM concerns")) }
        #expect(Set(serverMade).isSubset(of: onDesktop), "every server concern about the counselor's students reached the desktop")
        #expect(onDesktop.count == serverMade.count + desktopMade.count)
        try Self.expectServerHoldsDesktopChain(pair)
        let verified = try await pair.server.cli(["audit", "verify"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        try await pair.desktop.stop()
        try await pair.server.stop()
    }

    @Test func aDesktopWhoseSyncedAuditHistoryWasRewrittenIsRefused() async throws {
        let pair = try await Pair.make()
        try await pair.enrollAndApprove()
        _ = try await pair.syncNow()
        try await pair.desktop.stop()
        // Rewrite an audit entry the server already holds, and make the desktop send its history again.
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        let queue = try DatabaseQueue(path: pair.desktop.dataDirectory + "/haven.sqlite", configuration: configuration)
        try await queue.write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_update")
            try db.execute(sql: "UPDATE audit_log SET actor_name = 'someone else' WHERE seq = 2")
            try db.execute(sql: "UPDATE sync_link SET pushed_audit_seq = 0")
        }
        try queue.close()
        try await pair.desktop.start()
        let refused = try await pair.desktop.cli(["sync", "now"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("DATA_LOSS") && refused.stderr.contains("audit entry 2"), "\(refused.stderr)")
        let audited = try Self.query(pair.server) { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_log WHERE action = 'sync.audit_mismatch'")! }
        #expect(audited >= 1, "the refusal is in the server's audit log")
        try await pair.desktop.stop()
        try await pair.server.stop()
    }

    @Test func remoteStaffReachTheServerOverTLSWithATokenAndAPinnedFingerprint() async throws {
        let pair = try await Pair.make()
        let remote = ["--remote", pair.listen, "--server-fingerprint", pair.fingerprint]
        _ = try await Self.addConcern(pair.server, student: "stu-1-1", narrative: "Quiet in class", environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!])
        let listed = try await pair.desktop.cli(["concern", "list"] + remote, environment: ["HAVEN_TOKEN": pair.tokens["counselor"]!])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("withdrawal_mood"), "\(listed.stdout)")
        // A wrong fingerprint is refused before anything is sent.
        let wrong = "sha256:" + String(repeating: "ab", count: 32)
        let pinned = try await pair.desktop.cli(["status", "--remote", pair.listen, "--server-fingerprint", wrong],
                                                environment: ["HAVEN_TOKEN": pair.tokens["counselor"]!])
        #expect(pinned.status != 0)
        #expect(pinned.stderr.contains("not the pinned one"), "\(pinned.stderr)")
        // A desktop's node certificate, approved, opens the two sync methods and nothing else.
        try await pair.enrollAndApprove()
        let identity = try NodeIdentity.loadOrCreate(in: pair.desktop.dataDirectory, nodeID: pair.desktopNode)
        let tls = try TLSClientSetup(identity: identity, serverFingerprint: pair.fingerprint)
        let (host, port) = (String(pair.listen.split(separator: ":")[0]), Int(pair.listen.split(separator: ":")[1])!)
        let asNode = try await RPCClient.connect(host: host, port: port) { try tls.secure($0) }
        do {
            let _: Haven_V1_ListConcernsResponse = try await asNode.unary("haven.v1.Concerns", "List", Haven_V1_ListConcernsRequest())
            Issue.record("a node certificate listed concerns")
        } catch let error as RPCError {
            #expect(error.code == .permissionDenied, "\(error)")
        }
        let pulled: Haven_V1_PullResponse = try await asNode.unary("haven.v1.Sync", "Pull", Haven_V1_PullRequest())
        #expect(!pulled.rows.isEmpty, "the same certificate may pull")
        await asNode.close()
        // No token, no records: only Hello and Health answer.
        let anonymous = try await pair.desktop.cli(["concern", "list"] + remote + ["--token", "hvn_not_a_token"])
        #expect(anonymous.status == 1)
        #expect(anonymous.stderr.contains("UNAUTHENTICATED"), "\(anonymous.stderr)")
        try await pair.desktop.stop()
        try await pair.server.stop()
    }

    @Test func aReferralAcknowledgedOnTheServerAndClosedOnTheDesktopAndAScreeningGivenOfflineFollowTheRules() async throws {
        let pair = try await Pair.make(desktopPlugins: true)
        try await pair.enrollAndApprove()
        // An imminent concern on the server is routed to the on-duty counselor and the designated lead.
        _ = try await Self.addConcern(pair.server, student: "stu-1-1", severity: "imminent", narrative: "Said goodbye to friends",
                                      environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!])
        var referralID = ""
        for _ in 0..<100 where referralID.isEmpty {
            let mine = try await Self.json(pair.server, ["referral", "list", "--mine"], environment: ["HAVEN_TOKEN": pair.tokens["counselor"]!])
            referralID = ((mine["referrals"] as? [[String: Any]])?.first?["id"] as? String) ?? ""
            if referralID.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(!referralID.isEmpty, "the concern was routed")
        _ = try await pair.syncNow()
        let onDesktop = try await Self.json(pair.desktop, ["referral", "show", referralID])
        #expect(onDesktop["status"] as? String == "open" || onDesktop["status"] == nil, "\(onDesktop)")

        // Apart: the counselor handles it on the laptop and screens the student; the lead acknowledges it at school.
        try await pair.server.stop()
        #expect(try await pair.desktop.cli(["referral", "ack", referralID]).status == 0)
        let closed = try await pair.desktop.cli(["referral", "close", referralID, "--disposition", "resolved", "--note", "Met with the family at home"])
        #expect(closed.status == 0, "\(closed.stderr)")
        let student = onDesktop["studentId"] as! String
        let desktop = try await pair.desktop.client()
        let started: Haven_Screening_V1_Administration = try await desktop.unary("haven.screening.v1.Screening", "Start", Haven_Screening_V1_StartRequest.with {
            $0.studentID = student; $0.instrumentID = "asq"; $0.reason = "home visit"
        })
        let _: Haven_Screening_V1_Administration = try await desktop.unary("haven.screening.v1.Screening", "Answer", Haven_Screening_V1_AnswerRequest.with {
            $0.administrationID = started.id
            $0.answers = zip(["1", "2", "3", "4", "5"], ["no", "yes", "no", "no", "yes"]).map { a in .with { $0.linkID = a.0; $0.value = a.1 } }
        })
        let _: Haven_Screening_V1_Administration = try await desktop.unary("haven.screening.v1.Screening", "Submit", Haven_Screening_V1_SubmitRequest.with {
            $0.administrationID = started.id
        })
        await desktop.close()
        // The desktop does not route: that waits for the server.
        let localReferrals = try await Self.json(pair.desktop, ["referral", "list", "--status", "all"])
        #expect((localReferrals["referrals"] as? [[String: Any]])?.count == 1, "\(localReferrals)")

        try await pair.server.start()
        let acknowledged = try await pair.asLead(["referral", "ack", referralID])
        #expect(acknowledged.status == 0, "\(acknowledged.stderr)")

        let synced = try await pair.syncNow()
        #expect(synced["conflicts"] as? String == "1", "\(synced)")
        // Both nodes derive the same state: the close lost to the concurrent acknowledgement; both stay in the history.
        for (daemon, environment) in [(pair.server, ["HAVEN_TOKEN": pair.tokens["counselor"]!]), (pair.desktop, [:])] {
            let referral = try await Self.json(daemon, ["referral", "show", referralID], environment: environment)
            #expect(referral["status"] as? String == "acknowledged", "\(referral)")
            let kinds = (referral["history"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(kinds.contains("closed") && kinds.filter { $0 == "acknowledged" }.count == 2, "\(kinds)")
        }
        // The screening given offline reached the server, was scored there, and routed.
        let administrationID = started.id
        let band = try Self.query(pair.server) { db in
            try String.fetchOne(db, sql: "SELECT band FROM screening_results WHERE administration_id = ?", arguments: [administrationID])
        }
        #expect(band == "acute_positive", "the desktop's screening and its result are on the server")
        var routed = ""
        for _ in 0..<100 {
            routed = try await pair.asCounselor(["referral", "list", "--mine"]).stdout
            if routed.contains("asq-acute") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(routed.contains("asq-acute"), "\(routed)")
        try await pair.desktop.stop()
        try await pair.server.stop()
    }

    @Test func aStudentWhoLeavesTheOwnersCaseloadLeavesTheDesktopAndComesBackWithIt() async throws {
        let pair = try await Pair.make()
        try await pair.enrollAndApprove()
        let fromServer = try await Self.addConcern(pair.server, student: "stu-1-2", narrative: "Missed the bus all week",
                                                   environment: ["HAVEN_TOKEN": pair.tokens["teacher"]!]).id
        _ = try await pair.syncNow()
        let student = ((try await Self.json(pair.desktop, ["concern", "show", fromServer]))["studentId"] as! String)
        let fromDesktop = try await Self.addConcern(pair.desktop, student: student, narrative: "Talked at pickup").id
        _ = try await pair.syncNow()
        func held() throws -> (concerns: Int, current: Int, student: Int) {
            try Self.query(pair.desktop) { db in
                (try Int.fetchOne(db, sql: "SELECT count(*) FROM concerns WHERE student_id = ?", arguments: [student])!,
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM concern_current WHERE concern_id IN (?, ?)", arguments: [fromServer, fromDesktop])!,
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM students WHERE id = ?", arguments: [student])!)
            }
        }
        #expect(try held().concerns == 2)

        // The student leaves the counselor's caseload: the teacher's concern leaves the laptop; the
        // counselor's own report stays (a reporter always sees their own report), and so does the directory row.
        #expect(try await pair.server.cli(["caseload", "remove", "--staff", pair.counselorID, "stu-1-2"]).status == 0)
        _ = try await pair.syncNow()
        let after = try held()
        #expect(after.concerns == 1 && after.current == 1, "\(after)")
        let kept = try Self.query(pair.desktop) { db in try String.fetchOne(db, sql: "SELECT id FROM concerns WHERE student_id = ?", arguments: [student]) }
        #expect(kept == fromDesktop)
        #expect(after.student == 1)
        let removedAudit = try Self.query(pair.desktop) { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_log WHERE action = 'sync.remove'")! }
        #expect(removedAudit == 1)
        // Both concerns are still on the server, including the one written on the laptop.
        let onServer = try Self.query(pair.server) { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM concerns WHERE id IN (?, ?)", arguments: [fromServer, fromDesktop])!
        }
        #expect(onServer == 2)

        // Back on the caseload: back on the laptop.
        #expect(try await pair.server.cli(["caseload", "add", "--staff", pair.counselorID, "stu-1-2"]).status == 0)
        _ = try await pair.syncNow()
        let back = try held()
        #expect(back.concerns == 2 && back.current == 2, "\(back)")
        try await pair.desktop.stop()
        try await pair.server.stop()
    }

    @Test func remoteClientsHaveTheirOwnConnectionLimitSoLocalStaffAreNeverCrowdedOut() async throws {
        let directory = TemporaryDirectory(prefix: "havend-server")
        let config = try directory.write("havend.toml", "[remote]\nlisten = \"127.0.0.1:\(try Self.freePort())\"\nmax_connections = 1\n")
        let server = try await DaemonProcess(arguments: ["--config", config], directory: directory).start()
        let identity = try await Self.json(server, ["node", "identity"])
        let listen = (identity["remoteListen"] as! String).split(separator: ":")
        let tls = try TLSClientSetup(identity: nil, serverFingerprint: identity["fingerprint"] as! String)
        let first = try await RPCClient.connect(host: String(listen[0]), port: Int(listen[1])!) { try tls.secure($0) }
        let _: Haven_V1_HealthResponse = try await first.unary("haven.v1.Daemon", "Health", Haven_V1_HealthRequest())
        let second = try await RPCClient.connect(host: String(listen[0]), port: Int(listen[1])!) { try tls.secure($0) }
        do {
            let _: Haven_V1_HealthResponse = try await second.unary("haven.v1.Daemon", "Health", Haven_V1_HealthRequest())
            Issue.record("a second remote connection was served past [remote] max_connections = 1")
        } catch let error as RPCError {
            #expect(error.code == .resourceExhausted && error.message.contains("[remote] max_connections"), "\(error)")
        }
        let local = try await server.cli(["status"])
        #expect(local.status == 0, "the Unix socket still serves local staff: \(local.stderr)")
        await first.close()
        await second.close()
        try await server.stop()
    }

    @Test func anInstrumentTooLargeToTravelToADesktopIsRefusedAtImport() async throws {
        let directory = TemporaryDirectory(prefix: "havend")
        let config = try directory.write("havend.toml", "[plugins]\nenabled = [\"screening\"]\n")
        let daemon = try await DaemonProcess(arguments: ["--config", config], directory: directory).start()
        let huge = String(repeating: "a very long question text ", count: 45_000)  // ~1.2 MB
        let file = try directory.write("huge.json", """
            {"resourceType": "Questionnaire", "status": "draft", "name": "huge", "title": "Huge",
             "item": [{"linkId": "1", "type": "choice", "text": "\(huge)",
               "answerOption": [{"valueCoding": {"code": "a", "display": "A"}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": 1}]}]}]}
            """)
        let imported = try await daemon.cli(["screening", "import", file])
        #expect(imported.status != 0)
        #expect((imported.stdout + imported.stderr).contains("at most 1048576"), "\(imported.stdout)\(imported.stderr)")
        try await daemon.stop()
    }
}
