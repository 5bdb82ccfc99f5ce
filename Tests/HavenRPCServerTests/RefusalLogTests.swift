@testable import HavenRPCServer
import Testing

/// Refused connections are logged once, then summarised at most once per
/// interval while they go on, so a client retrying in a loop cannot fill the log.
@Suite struct RefusalLogTests {
    @Test func aBurstIsOneLineThenOneSummaryPerInterval() {
        var log = RefusalLog(interval: .seconds(10))
        let start = ContinuousClock.now
        // The first refusal is logged at once, covering itself.
        #expect(log.refused(at: start) == (true, 1, nil))
        // 500 more within the interval: none logged.
        for i in 1...500 {
            #expect(log.refused(at: start + .milliseconds(i * 10)).log == false)
        }
        // The next one past the interval carries the count: the 500 and itself.
        #expect(log.refused(at: start + .seconds(10)) == (true, 501, .seconds(10)))
        // After a quiet spell, a lone refusal is logged at once again.
        #expect(log.refused(at: start + .seconds(60)) == (true, 1, .seconds(50)))
    }
}
