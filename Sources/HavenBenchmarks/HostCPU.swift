import Foundation

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
        var time = HostCPUTime()
        time.add(from: earlier, to: self)
        return time.shares
    }

    /// Runs `body`, and returns what it returned with the machine's shares
    /// while it ran (nil where there is no /proc/stat).
    static func shares<T>(during body: () async throws -> T) async rethrows -> (result: T, host: String?) {
        var time: HostCPUTime?
        let result = try await count(into: &time, body)
        return (result, time?.shares)
    }

    /// `shares(since:)` between two readings, or nothing when either is missing.
    static func shares(_ before: HostCPU?, _ after: HostCPU?) -> String? {
        guard let before, let after else { return nil }
        return after.shares(since: before)
    }

    /// Runs `body`, adding the machine's CPU time while it ran to `time`
    /// (left nil where there is no /proc/stat): a figure measured in turns
    /// gives each side's shares over all of its turns.
    static func count<T>(into time: inout HostCPUTime?, _ body: () async throws -> T) async rethrows -> T {
        let before = now()
        let result = try await body()
        if let before, let after = now() {
            var sum = time ?? HostCPUTime()
            sum.add(from: before, to: after)
            time = sum
        }
        return result
    }
}

/// The machine's CPU time over one or more stretches, for its idle and steal shares.
struct HostCPUTime {
    var total: UInt64 = 0
    var idle: UInt64 = 0
    var steal: UInt64 = 0

    /// Adds the time between two readings. A counter may step back (the
    /// kernel allows it for iowait): that counts as none.
    mutating func add(from earlier: HostCPU, to later: HostCPU) {
        func elapsed(_ now: UInt64, _ then: UInt64) -> UInt64 { now >= then ? now - then : 0 }
        total += elapsed(later.total, earlier.total)
        idle += elapsed(later.idle, earlier.idle)
        steal += elapsed(later.steal, earlier.steal)
    }

    /// "host idle 23 %, steal 4 %".
    var shares: String {
        guard total > 0 else { return "host CPU not counted" }
        func percent(_ part: UInt64) -> String { String(Int((min(1, Double(part) / Double(total)) * 100).rounded())) }
        return "host idle \(percent(idle)) %, steal \(percent(steal)) %"
    }
}
