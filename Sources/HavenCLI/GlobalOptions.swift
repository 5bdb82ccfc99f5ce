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

    var resolvedToken: String? {
        token ?? ProcessInfo.processInfo.environment["HAVEN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var callTimeout: Duration { .milliseconds(Int64(timeout * 1000)) }
}
