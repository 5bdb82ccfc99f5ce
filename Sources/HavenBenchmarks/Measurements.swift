import Foundation

/// Small statistics over measured samples.
enum Samples {
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let index = Int((p * Double(sorted.count - 1)).rounded())
        return sorted[min(max(index, 0), sorted.count - 1)]
    }

    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

    static func timeSync(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        return (ContinuousClock.now - start).seconds
    }

    /// Runs `body` and returns its wall time in seconds.
    static func time(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - start).seconds
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var microseconds: Double { seconds * 1e6 }
}

/// Memory of a running process, from /proc.
enum ProcessMemory {
    /// (resident now, peak resident) in MiB.
    static func rss(pid: Int32) -> (current: Double, peak: Double) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func kib(_ key: String) -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return 0 }
            return Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "0") ?? 0
        }
        return (kib("VmRSS") / 1024, kib("VmHWM") / 1024)
    }
}

/// The whole machine's CPU time, from the first line of /proc/stat. On a
/// shared VM the time the host gives to other tenants (steal) moves every
/// figure, and the idle share says whether a figure was CPU-bound; a figure's
/// note carries both, so a reader can tell the host's minute from Haven's.
struct HostCPU {
    let total: UInt64
    let idle: UInt64
    let steal: UInt64

    /// Now, or nil where there is no /proc/stat.
    static func now() -> HostCPU? {
        (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)).flatMap(HostCPU.init(procStat:))
    }

    /// From /proc/stat's text: "cpu  user nice system idle iowait irq softirq steal ..."
    /// (guest time is already counted in user and nice).
    init?(procStat: String) {
        guard let line = procStat.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let fields = line.split(separator: " ").dropFirst().map { UInt64($0) }
        guard fields.count >= 8, fields.allSatisfy({ $0 != nil }) else { return nil }
        let ticks = fields.prefix(8).map { $0! }
        total = ticks.reduce(0, +)
        idle = ticks[3] + ticks[4]
        steal = ticks[7]
    }

    /// "host idle 23 %, steal 4 %" over the time since `earlier`.
    func shares(since earlier: HostCPU) -> String {
        let elapsed = Double(total >= earlier.total ? total - earlier.total : 0)
        guard elapsed > 0 else { return "host CPU not counted" }
        // A counter may step back (the kernel allows it for iowait): count that as none.
        func percent(_ now: UInt64, _ then: UInt64) -> String {
            String(Int((min(1, Double(now >= then ? now - then : 0) / elapsed) * 100).rounded()))
        }
        return "host idle \(percent(idle, earlier.idle)) %, steal \(percent(steal, earlier.steal)) %"
    }

    /// Runs `body`, and returns what it returned with the machine's shares
    /// while it ran (nil where there is no /proc/stat).
    static func shares<T>(during body: () async throws -> T) async rethrows -> (result: T, host: String?) {
        let before = now()
        let result = try await body()
        return (result, shares(before, now()))
    }

    /// `shares(since:)` between two readings, or nothing when either is missing.
    static func shares(_ before: HostCPU?, _ after: HostCPU?) -> String? {
        guard let before, let after else { return nil }
        return after.shares(since: before)
    }
}
