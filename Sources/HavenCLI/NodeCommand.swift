import ArgumentParser
import Foundation
import HavenProto

/// `haven node identity|enroll|list|approve|revoke`: this daemon as a node,
/// and enrolment of desktop daemons with a school server (Docs/sync.md).
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "This daemon's node identity, and enrolment of desktops with a school server.",
        subcommands: [Identity.self, Enroll.self, List.self, Approve.self, Revoke.self])

    struct Identity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Node id, certificate fingerprint and TCP listener of this daemon.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_NodeIdentityResponse = try await session.unary("haven.v1.Nodes", "Identity", Haven_V1_NodeIdentityRequest())
                try emit(r, global) {
                    """
                    node:        \(r.nodeID) (\(r.mode))
                    fingerprint: \(r.fingerprint)
                    listening:   \(r.remoteListen.isEmpty ? "Unix socket only ([remote] listen is not set)" : r.remoteListen + " (TCP+TLS)")
                    """
                }
            }
        }
    }

    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Link this desktop daemon to a school server.",
            discussion: """
            The server's admin gives you its address and fingerprint (haven node identity on the \
            server) and a token for your account (haven token create). The desktop then waits \
            until the admin runs `haven node approve` on the server.
            """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The school server, host:port.") var server: String
        @Option(help: "The server's certificate fingerprint, sha256:...") var fingerprint: String
        @Option(name: .customLong("owner-token"), help: "Your token on the server; used once to enrol, not stored.") var ownerToken: String
        @Option(help: "What to call this device (default: the host name).") var name: String?
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_EnrollResponse = try await session.unary("haven.v1.Sync", "Enroll", Haven_V1_EnrollRequest.with {
                    $0.server = server
                    $0.serverFingerprint = fingerprint
                    $0.token = ownerToken
                    $0.name = name ?? ""
                })
                try emit(r, global) {
                    """
                    Enrolled as node \(r.node.nodeID) for \(r.owner.displayName); status: \(r.node.status).
                    \(r.node.status == "approved" ? "It syncs from now on." : "An admin must approve it on the server: haven node approve \(r.node.nodeID)")
                    """
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Nodes enrolled with this server.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_ListNodesResponse = try await session.unary("haven.v1.Nodes", "List", Haven_V1_ListNodesRequest())
                try emit(r, global) {
                    var table = Table("NODE", "NAME", "OWNER", "STATUS", "LAST SYNC", "AUDIT HEAD")
                    for n in r.nodes {
                        table.add(n.nodeID, n.name, n.ownerName, n.status, n.hasLastSyncAt ? Dates.show(n.lastSyncAt) : "never",
                                  n.auditHeadSeq == 0 ? "-" : "\(n.auditHeadSeq) \(n.auditHeadHash.prefix(12))…")
                    }
                    return table.render()
                }
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let an enrolled node sync.")
        @OptionGroup var global: GlobalOptions
        @Argument var node: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_NodeInfo = try await session.unary("haven.v1.Nodes", "Approve", Haven_V1_DecideNodeRequest.with { $0.nodeID = node })
                try emit(r, global) { "Node \(r.nodeID) (\(r.name), \(r.ownerName)) is approved and may sync." }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse a node from its next connection on (a lost or replaced device).")
        @OptionGroup var global: GlobalOptions
        @Argument var node: String
        @Option(help: "Why (lost, stolen, replaced, left the school).") var reason: String
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_NodeInfo = try await session.unary("haven.v1.Nodes", "Revoke", Haven_V1_DecideNodeRequest.with {
                    $0.nodeID = node
                    $0.reason = reason
                })
                try emit(r, global) { "Node \(r.nodeID) (\(r.name)) is revoked; it is refused from its next connection." }
            }
        }
    }
}

/// `haven sync status|now`: a desktop's sync with its school server.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "This desktop's sync with its school server.", subcommands: [Status.self, Now.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Last sync, records waiting each way, conflicts.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_SyncStatusResponse = try await session.unary("haven.v1.Sync", "Status", Haven_V1_SyncStatusRequest())
                try emit(r, global) { SyncCommand.render(r) }
            }
        }
    }

    struct Now: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sync now rather than at the next interval.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await withSession(global) { session in
                let r: Haven_V1_SyncNowResponse = try await session.unary("haven.v1.Sync", "Now", Haven_V1_SyncNowRequest())
                try emit(r, global) {
                    "Synced: \(r.pushed) sent, \(r.pulled) received, \(r.conflicts) conflicts.\n\n" + SyncCommand.render(r.status)
                }
            }
        }
    }

    static func render(_ r: Haven_V1_SyncStatusResponse) -> String {
        guard r.linked else { return "This daemon (\(r.nodeID)) is not linked to a school server; see `haven node enroll`." }
        var lines = [
            "server:       \(r.server) (\(r.serverFingerprint.prefix(19))…)",
            "last sync:    \(r.hasLastSuccessAt ? Dates.show(r.lastSuccessAt) : "never")",
            "waiting here: \(r.pendingPush) records not yet on the server",
            "waiting there: \(r.pendingPull) records at the last sync",
        ]
        if !r.lastError.isEmpty { lines.append("last error:   \(r.lastError)") }
        if !r.rejected.isEmpty {
            lines.append("refused by the server (kept here, not sent again):")
            for x in r.rejected { lines.append("  \(x.table) \(x.key): \(x.reason)") }
        }
        if r.conflicts.isEmpty {
            lines.append("conflicts:    none")
        } else {
            lines.append("conflicts:")
            for c in r.conflicts { lines.append("  \(c.subjectType) \(c.subjectID): kept \(c.winnerEntryID) over \(c.loserEntryID) (\(c.rule))") }
        }
        return lines.joined(separator: "\n")
    }
}
