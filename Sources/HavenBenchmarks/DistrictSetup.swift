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
        let daemon = DaemonProcess(arguments: ["--config", try config], directory: run.daemonHome)
        var startup = 0.0
        startup = try await Samples.time {
            try await daemon.start(pollInterval: .milliseconds(1))
            let client = try await RPCClient.connect(unixSocket: daemon.socketPath)
            let _: Haven_V1_HelloResponse = try await client.unary("haven.v1.Daemon", "Hello", Haven_V1_HelloRequest.with { $0.clientName = "haven-bench" })
            await client.close()
        }
        run.setDaemon(daemon)
        try await Task.sleep(for: .seconds(1))
        let idle = ProcessMemory.rss(pid: daemon.pid).current
        return [
            Figure("start to first answered Hello (\(run.scale.concerns) concerns)", value: startup * 1000, unit: "ms",
                   target: .valueAtMost(300)),
            Figure("havend resident memory, idle after start", value: idle, unit: "MiB", target: .valueAtMost(50)),
        ]
    }
}
