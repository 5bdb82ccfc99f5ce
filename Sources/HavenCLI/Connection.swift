import ArgumentParser
import Foundation
import HavenPaths
import HavenRPCClient
import HavenRPCServer
import HavenTLS
import HavenWire
import SwiftProtobuf

/// Exit codes, as documented in `haven --help`.
enum ExitStatus {
    static let serverError: Int32 = 1
    static let usage: Int32 = 64
    static let unreachable: Int32 = 69
}

/// A connected session: the client plus the options that shape every call.
struct Session {
    let client: RPCClient
    let options: GlobalOptions

    /// Connects using --socket, then HAVEN_SOCKET, then the default sockets.
    static func open(_ options: GlobalOptions) async throws -> Session {
        if let remote = options.resolvedRemote { return try await openRemote(remote, options) }
        let candidates = options.socket.map { [$0] } ?? DefaultPaths.clientSocketCandidates()
        let metadata = options.resolvedToken.map { [(key: "authorization", value: "Bearer \($0)")] } ?? []
        var lastError: Error?
        for path in candidates where options.socket != nil || FileManager.default.fileExists(atPath: path) {
            do {
                return Session(client: try await RPCClient.connect(unixSocket: path, metadata: metadata), options: options)
            } catch {
                lastError = error
            }
        }
        let tried = candidates.joined(separator: ", ")
        let reason = lastError.map { "\($0)" } ?? "no socket file exists"
        throw CLIFailure(
            "could not connect to havend: \(reason).\nIs havend running? Tried \(tried). Use --socket or HAVEN_SOCKET to point at it.",
            exitCode: ExitStatus.unreachable)
    }

    /// Connects over TCP+TLS, trusting the server only if its certificate
    /// has the fingerprint given, and authenticating with the token.
    private static func openRemote(_ remote: String, _ options: GlobalOptions) async throws -> Session {
        guard let address = TCPAddress(remote) else {
            throw CLIFailure("--remote: expected host:port (got \"\(remote)\")", exitCode: ExitStatus.usage)
        }
        guard let fingerprint = options.resolvedServerFingerprint.flatMap(PresentedCertificate.normalizedFingerprint) else {
            throw CLIFailure("--remote needs --server-fingerprint sha256:... (the server's `haven node identity` prints it)", exitCode: ExitStatus.usage)
        }
        guard let token = options.resolvedToken else {
            throw CLIFailure("--remote needs --token (or HAVEN_TOKEN): remote callers authenticate with a token", exitCode: ExitStatus.usage)
        }
        do {
            let tls = try TLSClientSetup(identity: nil, serverFingerprint: fingerprint)
            let client = try await RPCClient.connect(host: address.host, port: address.port, metadata: [(key: "authorization", value: "Bearer \(token)")]) {
                try tls.secure($0)
            }
            return Session(client: client, options: options)
        } catch {
            throw CLIFailure("could not connect to \(remote): \(error)", exitCode: ExitStatus.unreachable)
        }
    }

    func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ service: String, _ method: String, _ request: Request, as: Response.Type = Response.self
    ) async throws -> Response {
        try await client.unary(service, method, request, as: Response.self, timeout: options.callTimeout)
    }

    func close() async { await client.close() }
}

/// A failure the CLI reports and exits on.
struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32
    init(_ description: String, exitCode: Int32) {
        self.description = description
        self.exitCode = exitCode
    }
}

/// Runs a command body against a session, mapping failures to messages and
/// exit codes: server statuses print "CODE: message" and exit 1.
func withSession(_ options: GlobalOptions, _ body: (Session) async throws -> Void) async throws {
    let session: Session
    do {
        session = try await Session.open(options)
    } catch let failure as CLIFailure {
        printError("haven: \(failure.description)")
        throw ExitCode(failure.exitCode)
    }
    defer { Task { await session.close() } }
    do {
        try await body(session)
    } catch let error as RPCError {
        printError("haven: \(error.code.name): \(error.message)")
        throw ExitCode(ExitStatus.serverError)
    } catch let failure as CLIFailure {
        printError("haven: \(failure.description)")
        throw ExitCode(failure.exitCode)
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
