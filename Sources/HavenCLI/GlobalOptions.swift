import ArgumentParser
import Foundation

/// How the CLI prints results.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The daemon's socket (default: $HAVEN_SOCKET, then the desktop socket, then the server socket).")
    var socket: String?

    @Option(name: .customLong("output"), help: "table (readable) or json (for scripts).")
    var output: OutputFormat = .table

    @Option(help: "Give up on a call after this many seconds.")
    var timeout: Double = 30

    @Option(help: "An access token (default: $HAVEN_TOKEN); needed by tools and remote users, not by local staff.")
    var token: String?

    @Option(help: "Reach a school server over TCP+TLS at host:port instead of a local socket (default: $HAVEN_REMOTE); needs --token.")
    var remote: String?

    @Option(help: "The remote server's certificate fingerprint, sha256:... (default: $HAVEN_SERVER_FINGERPRINT); the connection is refused if it differs.")
    var serverFingerprint: String?

    var resolvedRemote: String? { remote ?? Self.environment("HAVEN_REMOTE") }
    var resolvedServerFingerprint: String? { serverFingerprint ?? Self.environment("HAVEN_SERVER_FINGERPRINT") }

    private static func environment(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    var resolvedToken: String? {
        token ?? ProcessInfo.processInfo.environment["HAVEN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var callTimeout: Duration { .milliseconds(Int64(timeout * 1000)) }
}
