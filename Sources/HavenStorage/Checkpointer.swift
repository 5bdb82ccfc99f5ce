import Foundation
import GRDB
import Logging
import Synchronization

/// Copies the WAL back into the database file from its own connection every
/// half second, so no commit pays for it. SQLite's automatic checkpoint runs inside
/// whichever commit crosses the threshold — a stall of milliseconds for an
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
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "haven.checkpointer"))
        timer.schedule(deadline: .now() + .milliseconds(500), repeating: .milliseconds(500))
        timer.setEventHandler { [weak self] in self?.checkpointIfNeeded() }
        timer.resume()
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

    func stop() {
        timer.cancel()
        try? queue.close()
    }
}
