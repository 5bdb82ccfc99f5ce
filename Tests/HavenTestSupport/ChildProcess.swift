#if canImport(Glibc)
import Glibc
#endif
import HavenLocking

/// A program started with `posix_spawn`, for live tests and benchmarks.
///
/// Not Foundation's `Process`, for two reasons found in the test process:
/// - On Linux, `Process.run()` walks /proc/self/fd copying each entry's name
///   as a whole 256-byte `d_name`, which reads past the end of glibc's
///   directory buffer when a process holds many descriptors; it crashed a CI
///   run of the test suite (swift-corelibs-foundation pull request 5472).
/// - A `Process` and the `FileHandle`s given to it were never freed, so
///   every command a test ran left its output files open: the test process
///   held over a thousand descriptors by the end of the suite.
///
/// Here the child opens its own standard streams (the parent opens
/// nothing), starts with no descriptor of the parent's but those three, with
/// no blocked signals and the usual signal actions, and is reaped by
/// `isRunning` or `wait`.
public final class ChildProcess: Sendable {
    /// Where one of the child's standard streams comes from or goes.
    public enum Stream: Sendable {
        /// /dev/null.
        case null
        /// The parent's own stream.
        case inherit
        /// A file: read from for standard input, created if need be and
        /// appended to for output (so two streams may share one file).
        case file(String)
    }

    /// How a child ended.
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    public let pid: pid_t
    public let executable: String
    private let termination = Locked<Termination?>(nil)

    /// Starts `executable` (a full path) with `arguments`; `environment` is
    /// the child's whole environment (nil: the parent's).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdin: Stream = .null, stdout: Stream = .inherit, stderr: Stream = .inherit
    ) throws {
        self.executable = executable
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (descriptor, stream) in [(STDIN_FILENO, stdin), (STDOUT_FILENO, stdout), (STDERR_FILENO, stderr)] {
            let input = descriptor == STDIN_FILENO
            switch stream {
            case .inherit:
                continue
            case .null:
                posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", input ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, descriptor, path, input ? O_RDONLY : O_WRONLY | O_CREAT | O_APPEND, 0o644)
            }
        }
        Self.closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A thread of the parent may block signals (dispatch's do); the
        // child must still stop on SIGTERM. Signals the parent ignores
        // (SIGPIPE) go back to their default too.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let environment = environment ?? Self.currentEnvironment()
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw TestFailure("could not start \(executable): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    /// Whether the child still runs; reaps it if it has ended.
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// How the child ended; nil while it runs.
    public var ended: Termination? { reap(blocking: false) }

    /// As Foundation's `Process` reports it: the exit status, or the number
    /// of the signal that ended the child. Meaningful once it has ended.
    public var terminationStatus: Int32 {
        switch reap(blocking: false) {
        case .exited(let status)?, .signalled(let status)?: status
        case nil: -1
        }
    }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits for the child to end, polling; nil when `timeout` passes first.
    @discardableResult
    public func wait(timeout: Duration) async throws -> Termination? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if let ended = reap(blocking: false) { return ended }
            if ContinuousClock.now > deadline { return nil }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Blocks the calling thread until the child ends.
    @discardableResult
    public func waitBlocking() -> Termination {
        reap(blocking: true)!
    }

    /// SIGTERM, then SIGKILL once `grace` has passed; waits for the end.
    public func stop(grace: Duration = .seconds(1)) {
        signal(SIGTERM)
        let deadline = ContinuousClock.now.advanced(by: grace)
        while isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        signal(SIGKILL)
        waitBlocking()
    }

    deinit {
        // Never leave a child running or a zombie behind.
        if isRunning {
            kill(pid, SIGKILL)
            waitBlocking()
        }
    }

    /// The recorded end, or a `waitpid` for it. Under the lock, so that two
    /// callers never both reap (the second would get ECHILD).
    private func reap(blocking: Bool) -> Termination? {
        termination.withLock { recorded in
            if let recorded { return recorded }
            var status: Int32 = 0
            var reaped: pid_t
            repeat { reaped = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while reaped < 0 && errno == EINTR
            guard reaped == pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
            let signal = status & 0x7f
            recorded = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
            return recorded
        }
    }

    /// Adds "close every descriptor from 3 up" (glibc 2.34's
    /// `posix_spawn_file_actions_addclosefrom_np`, looked up at run time
    /// because Swift's Glibc module does not declare it). Without it the
    /// child would keep any descriptor the parent did not mark close-on-exec.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
    }

    private static func currentEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        return environment
    }
}
