import Foundation
import GRDB
import Logging
import Synchronization

/// Copies the WAL back into the database file from its own connection every
/// half second, and when the writer asks, so no commit pays for it. SQLite's automatic checkpoint runs inside
/// whichever commit crosses the threshold — a stall of milliseconds for an
/// unlucky caller; a checkpoint needs only the checkpoint lock, so here it
/// runs beside the writer and the readers. The writer's automatic
/// checkpoint is turned off (see HavenDatabase.open). Under writes that
/// never pause this never copies everything, so past a length the writer
/// asks for a copy here at once (`checkpointSoon`), then copies what came
/// after it itself, between batches (`DurableWriter.restartWALIfLong`):
/// the batch after it waits only for that short copy.
final class Checkpointer: @unchecked Sendable {  // the timer is only started and cancelled
    private let queue: DatabaseQueue
    private let logger: Logger
    private let timer: DispatchSourceTimer
    /// The timer's queue: every checkpoint, and the stop, run there in turn.
    private let dispatchQueue = DispatchQueue(label: "haven.checkpointer")
    /// Set while a `checkpointSoon` is queued, so requests do not pile up.
    private let requested = Atomic<Bool>(false)
    /// Set by `stop`: a checkpoint queued but not started does not run.
    private let stopped = Atomic<Bool>(false)
    /// Told each checkpoint's frames and how many it copied
    /// (`DurableWriter.noteCheckpoint`: copying every frame means the next
    /// commit starts the WAL again, and syncs its header).
    private let checkpointed: @Sendable (_ frames: Int, _ copied: Int) -> Void

    init(path: String, logger: Logger, checkpointed: @escaping @Sendable (_ frames: Int, _ copied: Int) -> Void = { _, _ in }) throws {
        self.checkpointed = checkpointed
        var configuration = Configuration()
        configuration.label = "haven.checkpointer"
        configuration.busyMode = .timeout(1)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        self.logger = logger
        timer = DispatchSource.makeTimerSource(queue: dispatchQueue)
        timer.schedule(deadline: .now() + .milliseconds(500), repeating: .milliseconds(500))
        timer.setEventHandler { [weak self] in self?.checkpointIfNeeded() }
        timer.resume()
    }

    /// A checkpoint now, besides the timer's: the writer found the WAL long
    /// (`DurableWriter.restartWALIfLong`) and leaves the bulk of the copy
    /// to this thread. One request at a time; more while it waits are one.
    func checkpointSoon() {
        guard !requested.exchange(true, ordering: .relaxed) else { return }
        dispatchQueue.async {
            self.requested.store(false, ordering: .relaxed)
            self.checkpointIfNeeded()
        }
    }

    private func checkpointIfNeeded() {
        guard !stopped.load(ordering: .relaxed) else { return }
        do {
            // Passive: copy what no reader still needs; never wait, never block.
            let (frames, copied) = try queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            checkpointed(frames, copied)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            // Another checkpoint is running (the writer's, or another process's): next time.
        } catch {
            logger.warning("background checkpoint failed; the WAL will be checkpointed later", metadata: ["error": "\(error)"])
        }
    }

    /// Returns after a checkpoint that is running; none starts after it.
    /// Not on `dispatchQueue` (it waits for that queue).
    func stop() {
        dispatchPrecondition(condition: .notOnQueue(dispatchQueue))
        stopped.store(true, ordering: .relaxed)
        timer.cancel()
        dispatchQueue.sync { try? queue.close() }
    }
}
