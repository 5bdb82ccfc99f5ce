import Foundation
import HavenProto
import HavenRPCClient
import HavenTestSupport

/// Creates the synthetic district: the roster through the real import (a
/// figure), the rest written straight into the database; then starts havend
/// on it (start-up time and idle memory are figures too).
struct DistrictSetup {
    let run: BenchmarkRun

    var config: String {
        get throws {
            try run.daemonHome.write("havend.toml", """
                [plugins]
                enabled = ["screening", "referrals", "reporting"]
                """)
        }
    }

    func importRosterAndFill() async throws -> [Figure] {
        let scale = run.scale
        let rosterDirectory = try SyntheticSchool.writeRoster(scale, into: run.scratch)
        let daemon = try await DaemonProcess(arguments: ["--config", try config], directory: run.daemonHome).start()
        run.logger.info("importing \(scale.students) students (OneRoster CSV) through `haven roster import`")
        var importResult: CommandResult?
        let seconds = try await Samples.time {
            importResult = try await daemon.cli(["roster", "import", rosterDirectory])
        }
        guard let importResult, importResult.status == 0 else {
            throw BenchmarkError("haven roster import failed: \(importResult?.stderr ?? "")")
        }
        try await daemon.stop()

        run.logger.info("writing \(scale.concerns) concerns, \(scale.screenings) screenings and \(scale.referrals) referrals")
        let fill = try await Samples.time {
            try SyntheticSchool.fill(databasePath: run.databasePath, scale: scale)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: run.databasePath)[.size] as? Int) ?? 0
        return [
            Figure("OneRoster import of \(scale.students) students (haven roster import)", value: seconds, unit: "s",
                   target: scale.name == "full" ? .valueAtMost(20) : .report,
                   note: "\(scale.schools) schools; through the CLI, staged in chunks, one all-or-nothing transaction"),
            Figure("synthetic data written directly (setup, not a target)", value: fill, unit: "s", target: .report,
                   note: "\(scale.concerns) concerns, \(scale.screenings) screenings, \(scale.referrals) referrals; database \(size / 1_048_576) MiB"),
        ]
    }

    func startDaemon() async throws -> [Figure] {
        // First start on the file written behind havend's back: it was not
        // closed by havend, so the integrity check runs (as after a crash).
        let checked = try await timedStart()
        try await checked.daemon.stop()
        // Then the normal case: a restart after a clean shutdown.
        let (daemon, startup) = try await timedStart()
        run.setDaemon(daemon)
        try await Task.sleep(for: .seconds(1))
        let idle = ProcessMemory.rss(pid: daemon.pid).current
        return [
            Figure("start to first answered Hello (\(run.scale.concerns) concerns)", value: startup * 1000, unit: "ms",
                   target: .valueAtMost(300), note: "after a clean shutdown"),
            Figure("start after an unclean shutdown (integrity check)", value: checked.seconds * 1000, unit: "ms", target: .report,
                   note: "PRAGMA quick_check over the whole file before serving"),
            Figure("havend resident memory, idle after start", value: idle, unit: "MiB", target: .valueAtMost(50)),
        ]
    }

    /// Launches havend and returns once a Hello is answered, with the seconds it took.
    private func timedStart() async throws -> (daemon: DaemonProcess, seconds: Double) {
        let daemon = DaemonProcess(arguments: ["--config", try config], directory: run.daemonHome)
        let seconds = try await Samples.time {
            try await daemon.start(pollInterval: .milliseconds(1))
            let client = try await RPCClient.connect(unixSocket: daemon.socketPath)
            let _: Haven_V1_HelloResponse = try await client.unary("haven.v1.Daemon", "Hello", Haven_V1_HelloRequest.with { $0.clientName = "haven-bench" })
            await client.close()
        }
        return (daemon, seconds)
    }
}
