import ArgumentParser
import Foundation
import HavenPaths
import HavenRPCClient
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
