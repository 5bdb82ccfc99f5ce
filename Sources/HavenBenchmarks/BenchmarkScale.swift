/// How big a run is. `full` is the one Docs/performance.md reports; `smoke`
/// runs every step at toy sizes so the test suite keeps the benchmark working.
public struct BenchmarkScale: Sendable {
    public var name: String
    public var schools: Int
    public var students: Int
    public var concerns: Int
    public var screenings: Int
    public var referrals: Int
    /// Sequential calls per latency measurement (after warm-up).
    public var latencyCalls: Int
    public var throughputSeconds: Double
    /// Haven's load in the durable-write figure, in all its turns; the
    /// baseline writes for as long.
    public var durableWriteSeconds: Double
    /// The turns Haven's load and the baseline take in the durable-write figure.
    public var durableTurns: Int
    /// The pause after each of Haven's turns, for havend's background
    /// checkpoint to copy what the turn wrote before the baseline writes to
    /// the same disk.
    public var durableSettleSeconds: Double
    public var timelineReads: Int
    public var reportRepeats: Int

    public static let full = BenchmarkScale(
        name: "full", schools: 50, students: 100_000, concerns: 1_000_000, screenings: 100_000, referrals: 50_000,
        latencyCalls: 20_000, throughputSeconds: 5, durableWriteSeconds: 5, durableTurns: 5, durableSettleSeconds: 1,
        timelineReads: 2_000, reportRepeats: 3)

    public static let smoke = BenchmarkScale(
        name: "smoke", schools: 5, students: 500, concerns: 5_000, screenings: 500, referrals: 250,
        latencyCalls: 200, throughputSeconds: 0.3, durableWriteSeconds: 0.6, durableTurns: 2, durableSettleSeconds: 0.1,
        timelineReads: 30, reportRepeats: 1)
}
