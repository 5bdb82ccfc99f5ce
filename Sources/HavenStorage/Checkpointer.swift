import Foundation
import GRDB
import Logging

/// Copies the WAL back into the database file from its own connection, on
/// its own thread: every half second, and whenever the WAL
/// has grown by `framesBetweenCheckpoints` frames since the last
/// (`checkpointSoon`), so no commit pays for it. SQLite's automatic
/// checkpoint runs inside whichever commit crosses the threshold — a stall
/// of milliseconds for an unlucky caller; a checkpoint needs only the
/// checkpoint lock, so here it runs beside the writer and the readers. The
/// writer's automatic checkpoint is turned off (see HavenDatabase.open).
/// Under writes that never pause this never copies everything, so past a
/// length the writer also checkpoints, between batches
/// (`DurableWriter.restartWALIfLong`): the batch after it waits for that copy.
final class Checkpointer: Sendable {
    private let queue: DatabaseQueue
    private let logger: Logger
    /// Seconds between the timer's checkpoints.
    private let interval: TimeInterval
    /// What the checkpoint thread is asked to do, under `wake`'s lock.
    private struct Requests {
        var soon = false
        var stopping = false
        var finished = false
    }
    private let wake = NSCondition()
    private nonisolated(unsafe) var requests = Requests()  // only under `wake`
    /// 4 MiB of 4 KiB pages: under the benchmark's loads a copy every
    /// 70–250 ms, a few milliseconds each on this thread. The writer's own
    /// checkpoint at `DurableWriter.walRestartFrames`, which holds back
    /// every write while it runs, then finds little left to copy. Before,
    /// the timer's copies fell behind and the writer's copied up to 16 MiB
    /// at once: a 15–22 ms stall for the writes behind it, which were the
    /// slowest timeline reads (their audit entries).
    static let framesBetweenCheckpoints = 1024
    /// Told each checkpoint's frames and how many it copied
    /// (`DurableWriter.noteCheckpoint`: copying every frame means the next
    /// commit starts the WAL again, and syncs its header).
    private let checkpointed: @Sendable (_ frames: Int, _ copied: Int) -> Void

    /// `interval`: between the timer's checkpoints (tests make it long, to
    /// see `checkpointSoon` alone).
    init(path: String, logger: Logger, interval: TimeInterval = 0.5,
         checkpointed: @escaping @Sendable (_ frames: Int, _ copied: Int) -> Void = { _, _ in }) throws {
        self.checkpointed = checkpointed
        var configuration = Configuration()
        configuration.label = "haven.checkpointer"
        configuration.busyMode = .timeout(1)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        self.logger = logger
        self.interval = interval
        Thread { [self] in run() }.start()
    }

    /// A checkpoint now, on the checkpoint thread; calls while one is
    /// asked for and not yet started add nothing.
    func checkpointSoon() {
        wake.lock()
        requests.soon = true
        wake.signal()
        wake.unlock()
    }

    /// The checkpoint thread: a checkpoint every `interval`, and whenever
    /// `checkpointSoon` asks, until `stop`. At normal priority: the writer
    /// may wait for this thread's checkpoint lock (`restartWALIfLong`), so
    /// a lower priority, which helped the timeline's tail on a quiet host,
    /// let a busy machine starve the copy while the writer waited
    /// (Docs/performance.md, stop 25).
    private func run() {
        Thread.current.name = "haven.checkpnt"  // Linux keeps 15 bytes
        // Wall-clock time: a clock step moves one checkpoint, harmlessly.
        var next = Date(timeIntervalSinceNow: interval)
        while true {
            wake.lock()
            while !requests.soon, !requests.stopping, wake.wait(until: next) {}
            let stopping = requests.stopping
            requests.soon = false
            wake.unlock()
            if stopping { break }
            checkpointIfNeeded()
            next = Date(timeIntervalSinceNow: interval)
        }
        wake.lock()
        requests.finished = true
        wake.broadcast()
        wake.unlock()
    }

    private func checkpointIfNeeded() {
        do {
            // Passive: copy what no reader still needs; never wait, never block.
            let (frames, copied) = try queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            checkpointed(frames, copied)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            // Another checkpoint is running (the writer's): next time.
        } catch {
            logger.warning("background checkpoint failed; the WAL will be checkpointed later", metadata: ["error": "\(error)"])
        }
    }

    /// Ends the checkpoint thread (after the checkpoint it may be running)
    /// and closes its connection.
    func stop() {
        wake.lock()
        requests.stopping = true
        wake.signal()
        while !requests.finished { wake.wait() }
        wake.unlock()
        try? queue.close()
    }
}
