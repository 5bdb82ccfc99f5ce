#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HavenProcess
import HavenRPCClient

/// A real havend process in a temporary directory, for live tests.
public final class DaemonProcess: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let socketPath: String
    public let dataDirectory: String
    public let logPath: String
    public private(set) var process: ChildProcess?
    public let extraArguments: [String]

    public init(arguments: [String] = [], directory: TemporaryDirectory = TemporaryDirectory(prefix: "havend")) {
        self.directory = directory
        self.socketPath = directory.file("run/haven.sock")
        self.dataDirectory = directory.file("data")
        self.logPath = directory.file("havend.log")
        self.extraArguments = arguments
    }

    public var arguments: [String] {
        ["--socket", socketPath, "--data-dir", dataDirectory] + extraArguments
    }

    /// Starts havend and waits until its socket answers.
    @discardableResult
    public func start(timeout: Duration = .seconds(30), pollInterval: Duration = .milliseconds(20)) async throws -> DaemonProcess {
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CONFIG_HOME"] = directory.file("xdg-config")
        let process = try ChildProcess(Binaries.havend, arguments, environment: environment, stdout: .file(logPath), stderr: .file(logPath))
        self.process = process
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                throw TestFailure("havend exited with status \(process.terminationStatus) during start-up:\n\(self.log())")
            }
            if FileManager.default.fileExists(atPath: socketPath),
               let client = try? await RPCClient.connect(unixSocket: socketPath) {
                await client.close()
                return self
            }
            try await Task.sleep(for: pollInterval)
        }
        throw TestFailure("havend did not start within \(timeout):\n\(self.log())")
    }

    public func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    public var pid: Int32 { process?.pid ?? 0 }

    /// Sends a signal and waits for the process to exit; returns its status
    /// (the exit status, or the signal's number).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async throws -> Int32 {
        guard let process else { return 0 }
        process.signal(signal)
        guard try await process.wait(timeout: timeout) != nil else {
            process.signal(SIGKILL)
            throw TestFailure("havend did not exit within \(timeout) of signal \(signal)")
        }
        return process.terminationStatus
    }

    public func client(metadata: [(key: String, value: String)] = []) async throws -> RPCClient {
        try await RPCClient.connect(unixSocket: socketPath, metadata: metadata)
    }

    /// Runs the haven CLI against this daemon.
    public func cli(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) async throws -> CommandResult {
        var env = ProcessInfo.processInfo.environment
        env["HAVEN_SOCKET"] = socketPath
        env.removeValue(forKey: "HAVEN_TOKEN")
        for (k, v) in environment { env[k] = v }
        return try await run(Binaries.haven, arguments, environment: env, stdin: stdin)
    }

    // A havend still running when its DaemonProcess goes is killed and
    // reaped by its ChildProcess.
}
