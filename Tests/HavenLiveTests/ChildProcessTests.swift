#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HavenProcess
import HavenLocking
import HavenTestSupport
import Testing

/// The launcher every live test and the benchmark start programs with.
@Suite(.timeLimit(.minutes(1))) struct ChildProcessTests {
    @Test func theChildReadsAndWritesTheFilesItIsGivenAndItsExitStatusIsKept() async throws {
        let directory = TemporaryDirectory(prefix: "child")
        let input = try directory.write("in", "from the file\n")
        let output = directory.file("out")
        let child = try ChildProcess("/bin/sh", ["-c", "read line; echo \"got $line\"; echo oops >&2; exit 3"],
                                     stdin: .file(input), stdout: .file(output), stderr: .file(output))
        #expect(try await child.wait(timeout: .seconds(30)) == .exited(3))
        #expect(child.terminationStatus == 3)
        #expect(!child.isRunning)
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "got from the file\noops\n")
    }

    @Test func aDescriptorTheParentLeftOpenDoesNotReachTheChild() async throws {
        var pair: [Int32] = [0, 0]
        #expect(pipe(&pair) == 0)  // no close-on-exec
        // Moved up out of the way: `ls` opens its own directory as the
        // lowest free descriptor, which a low pipe end might have been.
        let ends = pair.map { fcntl($0, F_DUPFD, 100) }
        for end in pair { close(end) }
        defer { for end in ends { close(end) } }
        let directory = TemporaryDirectory(prefix: "child")
        let output = directory.file("out")
        let child = try ChildProcess("/bin/sh", ["-c", "ls /proc/self/fd"], stdout: .file(output))
        #expect(try await child.wait(timeout: .seconds(30)) == .exited(0))
        let open = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(!open.contains(ends[0]) && !open.contains(ends[1]), "the child holds \(open)")
    }

    @Test func aChildStartedFromAThreadThatBlocksSignalsStillStopsOnSIGTERM() async throws {
        // Dispatch's threads block signals; the child must not inherit that.
        let started = Locked<Result<ChildProcess, Error>?>(nil)
        let thread = Thread {
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_BLOCK, &all, nil)
            started.withLock { $0 = Result { try ChildProcess("/bin/sleep", ["30"]) } }
        }
        thread.start()
        var child: ChildProcess?
        while child == nil {
            child = try started.withLock { try $0?.get() }
            try await Task.sleep(for: .milliseconds(5))
        }
        child!.signal(SIGTERM)
        #expect(try await child!.wait(timeout: .seconds(10)) == .signalled(SIGTERM))
    }

    @Test func aProgramThatIsNotThereIsAnErrorThatNamesIt() {
        let error = #expect(throws: ChildProcessError.self) { try ChildProcess("/nonexistent/haven-tool", []) }
        #expect(error?.description.contains("/nonexistent/haven-tool") == true)
    }

    @Test func anotherThreadCanSignalAChildWhileOneWaitsForIt() async throws {
        let child = try ChildProcess("/bin/sleep", ["30"])
        let waited = Locked<ChildProcess.Termination?>(nil)
        let waiter = Thread { let ended = child.waitBlocking(); waited.withLock { $0 = ended } }
        waiter.start()
        try await Task.sleep(for: .milliseconds(50))
        child.signal(SIGTERM)  // must not wait behind waitBlocking
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while waited.withLock({ $0 }) == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(waited.withLock { $0 } == .signalled(SIGTERM))
    }
}
