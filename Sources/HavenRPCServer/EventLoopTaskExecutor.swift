import NIOCore

/// Runs a task's jobs on one NIO event loop. A call handler that prefers it
/// starts on the connection's loop and, after each await (typically its
/// database work, which runs on the database's own threads unless the
/// method reads on the loop itself, within a budget), resumes on the
/// loop again: the answer is then written where it is, instead of one thread
/// waking a Swift concurrency thread that then wakes the loop.
///
/// The loop must outlive every task that prefers it: NIO drops work given
/// to a loop that has shut down, and such a task would never finish.
/// havend's loops live as long as the process.
final class EventLoopTaskExecutor: TaskExecutor {
    private let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
