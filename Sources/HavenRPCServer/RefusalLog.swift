/// Decides when a refused connection is worth a log line: the first refusal
/// after a quiet spell is logged at once, and while refusals keep coming at
/// most one line per `interval` says how many there were since. A client
/// retrying in a tight loop at the connection limit used to write one line
/// per attempt, enough to fill a disk.
struct RefusalLog {
    let interval: Duration
    private var lastLogged: ContinuousClock.Instant?
    private var unlogged = 0

    init(interval: Duration = .seconds(10)) {
        self.interval = interval
    }

    /// Records one refusal at `now`; returns whether to log a line, how many
    /// refusals that line covers (this one included), and how long ago the
    /// last line was (nil for the first), since the count may span a quiet
    /// spell: refusals at the end of a burst are counted in the next line.
    mutating func refused(at now: ContinuousClock.Instant) -> (log: Bool, count: Int, sinceLastLine: Duration?) {
        unlogged += 1
        if let lastLogged, now - lastLogged < interval { return (false, 0, nil) }
        let since = lastLogged.map { now - $0 }
        lastLogged = now
        defer { unlogged = 0 }
        return (true, unlogged, since)
    }
}
