import Foundation

/// One row of the benchmark table: a figure, the baseline measured beside it
/// in the same run, their ratio, and the target the ratio (or value) must meet.
public struct Figure: Sendable, Codable {
    /// How a figure is judged against its target.
    public enum Target: Sendable, Codable {
        /// value / baseline must be at most this (latencies: lower is better).
        case ratioAtMost(Double)
        /// value / baseline must be at least this (throughputs: higher is better).
        case ratioAtLeast(Double)
        /// value must be at most this, in the figure's unit (no baseline).
        case valueAtMost(Double)
        /// Reported for context; no target.
        case report
    }

    public var name: String
    public var value: Double
    public var unit: String
    public var baselineName: String?
    public var baseline: Double?
    public var target: Target
    /// Extra context printed under the table (sizes, errors, why a baseline is missing).
    public var note: String?

    public init(_ name: String, value: Double, unit: String, baseline: (name: String, value: Double)? = nil, target: Target, note: String? = nil) {
        self.name = name
        self.value = value
        self.unit = unit
        self.baselineName = baseline?.name
        self.baseline = baseline?.value
        self.target = target
        self.note = note
    }

    public var ratio: Double? {
        guard let baseline, baseline > 0 else { return nil }
        return value / baseline
    }

    /// nil when the baseline could not be measured in this run.
    public var met: Bool? {
        switch target {
        case .ratioAtMost(let limit): ratio.map { $0 <= limit }
        case .ratioAtLeast(let limit): ratio.map { $0 >= limit }
        case .valueAtMost(let limit): value <= limit
        case .report: nil
        }
    }

    public var targetDescription: String {
        switch target {
        case .ratioAtMost(let limit): "≤ \(Self.format(limit))× \(baselineName ?? "baseline")"
        case .ratioAtLeast(let limit): "≥ \(Self.format(limit))× \(baselineName ?? "baseline")"
        case .valueAtMost(let limit): "≤ \(Self.format(limit)) \(unit)"
        case .report: "—"
        }
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e9 { return String(Int(value)) }
        if abs(value) >= 100 { return String(format: "%.0f", value) }
        if abs(value) >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }
}

/// Everything one run measured, with the machine it ran on.
public struct BenchmarkReport: Sendable, Codable {
    public var startedAt: Date
    public var scale: String
    public var machine: Machine
    public var figures: [Figure]
    public var seconds: Double

    public struct Machine: Sendable, Codable {
        public var cpus: Int
        public var cpuModel: String
        public var memoryGiB: Double
        public var kernel: String
        public var sqlite: String

        public static func current(sqlite: String) -> Machine {
            let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
                .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
            let kernel = ((try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)) ?? "unknown").trimmingCharacters(in: .whitespacesAndNewlines)
            return Machine(cpus: ProcessInfo.processInfo.activeProcessorCount, cpuModel: model,
                           memoryGiB: Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824, kernel: kernel, sqlite: sqlite)
        }
    }

    /// The table printed at the end of a run.
    public var table: String {
        let header = ["figure", "value", "baseline", "ratio", "target", "met"]
        var rows: [[String]] = figures.map { f in
            [f.name, "\(Figure.format(f.value)) \(f.unit)",
             f.baseline.map { "\(Figure.format($0)) \(f.unit) (\(f.baselineName ?? ""))" } ?? "—",
             f.ratio.map { "\(Figure.format($0))×" } ?? "—",
             f.targetDescription,
             f.met.map { $0 ? "yes" : "NO" } ?? (f.target.isReport ? "" : "n/a")]
        }
        rows.insert(header, at: 0)
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        lines.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
        let notes = figures.compactMap { f in f.note.map { "  \(f.name): \($0)" } }
        return (lines + (notes.isEmpty ? [] : ["", "notes:"] + notes)).joined(separator: "\n")
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }
}

extension Figure.Target {
    var isReport: Bool { if case .report = self { true } else { false } }
}
