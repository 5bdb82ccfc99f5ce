import Foundation
import GRDB
import Logging
import Synchronization

/// Copies the WAL back into the database file from its own connection every
/// half second, and whenever the WAL has grown by `framesBetweenCheckpoints`
/// frames since the last (`checkpointSoon`), so no commit pays for it.
/// SQLite's automatic checkpoint runs inside whichever commit crosses the
/// threshold — a stall of milliseconds for an
/// unlucky caller; a checkpoint needs only the checkpoint lock, so here it
/// runs beside the writer and the readers. The writer's automatic
/// checkpoint is turned off (see HavenDatabase.open). Under writes that
/// never pause this never copies everything, so past a length the writer
/// also checkpoints, between batches (`DurableWriter.restartWALIfLong`):
/// the batch after it waits for that copy.
final class Checkpointer: @unchecked Sendable {  // the timer is only started and cancelled
    private let queue: DatabaseQueue
    private let logger: Logger
    private let timer: DispatchSourceTimer
    private let checkpoints = DispatchQueue(label: "haven.checkpointer")
    /// A `checkpointSoon` is queued and has not started.
    private let soon = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
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
    init(path: String, logger: Logger, interval: DispatchTimeInterval = .milliseconds(500),
         checkpointed: @escaping @Sendable (_ frames: Int, _ copied: Int) -> Void = { _, _ in }) throws {
        self.checkpointed = checkpointed
        var configuration = Configuration()
        configuration.label = "haven.checkpointer"
        configuration.busyMode = .timeout(1)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        self.logger = logger
        timer = DispatchSource.makeTimerSource(queue: checkpoints)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in self?.checkpointIfNeeded() }
        timer.resume()
    }

    /// A checkpoint now, on the checkpoint thread; calls while one is
    /// queued and not yet started add nothing.
    func checkpointSoon() {
        guard !soon.exchange(true, ordering: .acquiringAndReleasing) else { return }
        checkpoints.async { [weak self] in
            guard let self else { return }
            self.soon.store(false, ordering: .releasing)
            self.checkpointIfNeeded()
        }
    }

    private func checkpointIfNeeded() {
        guard !stopped.load(ordering: .acquiring) else { return }
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

    func stop() {
        timer.cancel()
        // A checkpoint queued by `checkpointSoon` would otherwise run after
        // the close, and fail.
        checkpoints.sync { stopped.store(true, ordering: .releasing) }
        try? queue.close()
    }
}
