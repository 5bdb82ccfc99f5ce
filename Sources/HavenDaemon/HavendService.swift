import Logging
import ServiceLifecycle

/// Runs the daemon under swift-service-lifecycle: start, wait for SIGTERM or
/// SIGINT (graceful shutdown), stop.
public struct HavendService: Service {
    let runtime: DaemonRuntime

    public init(runtime: DaemonRuntime) {
        self.runtime = runtime
    }

    public func run() async throws {
        let running = try await runtime.start()
        // Returns when a shutdown signal arrives (or the task is cancelled).
        try? await gracefulShutdown()
        await running.stop()
    }
}
