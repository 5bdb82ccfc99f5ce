import Foundation
import HavenProcess

/// The result of running a command to completion.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs a program and collects its output. Output goes to files, not pipes,
/// so a chatty program can never block on a full pipe; the child opens them
/// itself, so the caller is left holding nothing.
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil, timeout: Duration = .seconds(60)) async throws -> CommandResult {
    let scratch = TemporaryDirectory(prefix: "haven-run")
    let outPath = scratch.file("out")
    let errPath = scratch.file("err")
    var input = ChildProcess.Stream.null
    if let stdin {
        let inPath = scratch.file("in")
        try stdin.write(toFile: inPath, atomically: true, encoding: .utf8)
        input = .file(inPath)
    }
    let child = try ChildProcess(executable, arguments, environment: environment, stdin: input, stdout: .file(outPath), stderr: .file(errPath))
    guard try await child.wait(timeout: timeout) != nil else {
        child.stop()
        throw TestFailure("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
    }
    return CommandResult(
        status: child.terminationStatus,
        stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
