import HavenPluginAPI
import HavenLocking

/// The plugins' timeline contributions, registered once plugins run.
public final class TimelineContributors: Sendable {
    private let contributors = Locked<[(source: String, contributor: any TimelineContributor)]>([])

    public func set(_ list: [(source: String, contributor: any TimelineContributor)]) {
        contributors.withLock { $0 = list }
    }

    var all: [(source: String, contributor: any TimelineContributor)] { contributors.withLock { $0 } }
}
