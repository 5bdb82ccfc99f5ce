#if canImport(Glibc)
import Glibc
#endif
import HavenLocking

/// A program started with `posix_spawn`: the referral notify command in
/// havend, and every program the live tests and the benchmark start.
///
/// Not Foundation's `Process`, for two reasons found in the test process:
/// - On Linux, `Process.run()` walks /proc/self/fd copying each entry's name
///   as a whole 256-byte `d_name`, which reads past the end of glibc's
///   directory buffer when a process holds many descriptors; it crashed a CI
///   run of the test suite (swift-corelibs-foundation pull request 5472),
///   and havend, which holds a descriptor per client, could meet it too.
/// - A `Process` and the `FileHandle`s given to it were never freed, so
///   every command a test ran left its output files open.
///
/// The child opens its own standard streams (the parent opens nothing),
/// starts with no descriptor of the parent's but those three, with no
/// blocked signals and every signal's default action, in the parent's
/// process group (so a signal to the group, as `timeout` sends, reaches it
/// too). It is reaped by `isRunning` or a wait; one still running
/// when its `ChildProcess` is freed is killed and reaped.
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
        /// Reaped by someone else (`waitpid` said ECHILD, as it does when
        /// SIGCHLD is ignored): it has ended, how is unknown.
        case unknown
    }

    public let pid: pid_t
    private let termination = Locked<Termination?>(nil)

    /// Starts `executable` (a full path) with `arguments`; `environment` is
    /// the child's whole environment (nil: the parent's).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdin: Stream = .null, stdout: Stream = .inherit, stderr: Stream = .inherit
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (descriptor, stream) in [(STDIN_FILENO, stdin), (STDOUT_FILENO, stdout), (STDERR_FILENO, stderr)] {
            let input = descriptor == STDIN_FILENO
            let opened: Int32
            switch stream {
            case .inherit:
                continue
            case .null:
                opened = posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", input ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                opened = posix_spawn_file_actions_addopen(&actions, descriptor, path, input ? O_RDONLY : O_WRONLY | O_CREAT | O_APPEND, 0o644)
            }
            guard opened == 0 else { throw ChildProcessError(executable: executable, step: "preparing its standard streams", code: opened) }
        }
        try Self.closeInheritedDescriptors(&actions, executable: executable)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A thread of the parent may block signals (dispatch's do); the
        // child must still stop on SIGTERM. Signals the parent ignores
        // (SIGPIPE) go back to their default too.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in argv + (envp ?? []) { free(pointer) } }
        var pid: pid_t = 0
        let result = envp.map { posix_spawn(&pid, executable, &actions, &attributes, argv, $0) }
            ?? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw ChildProcessError(executable: executable, step: "starting it", code: result) }
        self.pid = pid
    }

    /// Whether the child still runs; reaps it if it has ended.
    public var isRunning: Bool { reap() == nil }

    /// As Foundation's `Process` reports it: the exit status, or the number
    /// of the signal that ended the child; -1 while it runs or if unknown.
    public var terminationStatus: Int32 {
        switch reap() {
        case .exited(let status)?, .signalled(let status)?: status
        case .unknown?, nil: -1
        }
    }

    /// Sends `signal` unless the child has been reaped (then its pid may
    /// already be another process's).
    public func signal(_ signal: Int32) {
        termination.withLock { recorded in
            if recorded == nil { kill(pid, signal) }
        }
    }

    /// Waits for the child to end, polling; nil when `timeout` passes first.
    @discardableResult
    public func wait(timeout: Duration) async throws -> Termination? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if let ended = reap() { return ended }
            if ContinuousClock.now > deadline { return nil }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Blocks the calling thread until the child ends.
    @discardableResult
    public func waitBlocking() -> Termination {
        waitBlocking(until: nil)!
    }

    /// SIGTERM, then SIGKILL once `grace` has passed; blocks until the end.
    public func stop(grace: Duration = .seconds(1)) {
        signal(SIGTERM)
        if waitBlocking(until: ContinuousClock.now.advanced(by: grace)) == nil {
            signal(SIGKILL)
            waitBlocking()
        }
    }

    /// Polls (a millisecond apart) rather than blocking in `waitpid`, so
    /// that another thread can still signal the child meanwhile; nil when
    /// `deadline` passes first.
    private func waitBlocking(until deadline: ContinuousClock.Instant?) -> Termination? {
        while true {
            if let ended = reap() { return ended }
            if let deadline, ContinuousClock.now > deadline { return nil }
            usleep(1_000)
        }
    }

    deinit {
        // Never leave a child running or a zombie behind.
        if isRunning {
            signal(SIGKILL)
            waitBlocking()
        }
    }

    /// The recorded end, or a non-blocking `waitpid` for it. Under the lock,
    /// so that two callers never both reap, and a signal is never sent to a
    /// pid reaped in between.
    private func reap() -> Termination? {
        termination.withLock { recorded in
            if let recorded { return recorded }
            var status: Int32 = 0
            var reaped: pid_t
            repeat { reaped = waitpid(pid, &status, WNOHANG) } while reaped < 0 && errno == EINTR
            if reaped == 0 { return nil }
            if reaped < 0 {
                recorded = .unknown
            } else {
                // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
                let signal = status & 0x7f
                recorded = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
            }
            return recorded
        }
    }

    /// Adds "close every descriptor from 3 up" (glibc 2.34's
    /// `posix_spawn_file_actions_addclosefrom_np`, looked up at run time
    /// because Swift's Glibc module does not declare it). Without it the
    /// child would keep every descriptor the parent did not mark
    /// close-on-exec — in havend, its clients' sockets — so its absence is
    /// an error, not a fallback.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t, executable: String) throws {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            throw ChildProcessError(executable: executable, step: "closing inherited descriptors (needs glibc 2.34 or later)", code: ENOSYS)
        }
        let result = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        guard result == 0 else { throw ChildProcessError(executable: executable, step: "closing inherited descriptors", code: result) }
    }
}

/// A program that could not be started, and at which step.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let executable: String
    public let step: String
    public let code: Int32

    public var description: String {
        "could not start \(executable): \(step): \(String(cString: strerror(code)))"
    }
}
