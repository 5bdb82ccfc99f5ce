@testable import HavenBenchmarks
import Testing

/// The machine's CPU shares in the benchmark's notes, read from /proc/stat's text.
@Suite struct HostCPUTests {
    /// /proc/stat's first line: "cpu", two spaces, then user nice system idle
    /// iowait irq softirq steal guest guest_nice (guest time is inside user and nice).
    func stat(_ fields: String) -> String { "cpu  \(fields)\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 123\n" }

    @Test func readsIdleWithIOWaitAndStealFromTheFirstLine() throws {
        let cpu = try #require(HostCPU(procStat: stat("100 5 50 800 20 3 2 20 7 0")))
        #expect(cpu.total == 1000)
        #expect(cpu.idle == 820)
        #expect(cpu.steal == 20)
    }

    @Test func givesTheSharesOfTheTimeBetweenTwoReadings() throws {
        let before = try #require(HostCPU(procStat: stat("100 0 100 700 0 0 0 100 0 0")))
        let after = try #require(HostCPU(procStat: stat("200 0 200 900 0 0 0 200 0 0")))
        #expect(after.shares(since: before) == "host idle 40 %, steal 20 %")
        #expect(HostCPU.shares(before, nil) == nil)
    }

    @Test func measuresTheMachineWhileABodyRuns() async throws {
        let (result, host) = await HostCPU.shares { 42 }
        #expect(result == 42)
        #expect(host?.range(of: #"^(host idle \d+ %, steal \d+ %|host CPU not counted)$"#, options: .regularExpression) != nil)
    }

    @Test func aCounterThatStepsBackCountsAsNone() throws {
        // Idle with iowait goes from 1000 to 850 ticks; 150 ticks pass in all.
        let before = try #require(HostCPU(procStat: stat("100 0 100 700 300 0 0 100 0 0")))
        let after = try #require(HostCPU(procStat: stat("200 0 200 750 100 0 0 200 0 0")))
        #expect(after.shares(since: before) == "host idle 0 %, steal 67 %")
        #expect(before.shares(since: before) == "host CPU not counted")
    }

    @Test func addsUpTheSharesOfSeveralStretches() throws {
        // Two turns: 100 ticks with 50 idle and none stolen, then 300 with 30 idle and 90 stolen.
        let readings = try ["0 0 0 0 0 0 0 0 0 0", "50 0 0 50 0 0 0 0 0 0", "60 0 0 50 0 0 0 0 0 0",
                            "240 0 0 80 0 0 0 90 0 0"].map { try #require(HostCPU(procStat: stat($0))) }
        var time = HostCPUTime()
        #expect(time.shares == "host CPU not counted")
        time.add(from: readings[0], to: readings[1])
        time.add(from: readings[2], to: readings[3])
        #expect(time.total == 400)
        #expect(time.shares == "host idle 20 %, steal 23 %")
    }

    @Test func countAddsEachBodysStretchToTheSameTime() async throws {
        var time: HostCPUTime?
        let first = try await HostCPU.count(into: &time) { try await Task.sleep(for: .milliseconds(30)); return 1 }
        let once = try #require(time, "/proc/stat is read on Linux")
        let second = try await HostCPU.count(into: &time) { try await Task.sleep(for: .milliseconds(30)); return 2 }
        #expect(first + second == 3)
        // Two vCPUs or more, at least 100 ticks a second: 30 ms is several ticks.
        #expect(once.total > 0)
        #expect(try #require(time).total > once.total)
    }

    @Test func refusesTextThatIsNotProcStat() {
        #expect(HostCPU(procStat: "") == nil)
        #expect(HostCPU(procStat: "intr 1 2 3\ncpu  1 2 3 4 5 6 7 8") == nil)
        #expect(HostCPU(procStat: stat("1 2 3 4 5 6 7")) == nil)
        #expect(HostCPU(procStat: stat("1 2 3 x 5 6 7 8")) == nil)
    }
}
