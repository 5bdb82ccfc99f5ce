import GRDB
import HavenLocking
import HavenPluginAPI

/// Every synced table, the core's and the plugins', in the order rows are
/// sent (a row refers only to rows of tables before it), with the plugins'
/// extra ways a staff member can see a student and their re-derivations.
public final class SyncRegistry: Sendable {
    private let participants = Locked<[SyncParticipant]>([])

    init() {}

    func register(_ participant: SyncParticipant) {
        participants.withLock { $0.append(participant) }
    }

    /// Core tables, then each plugin's, then conflicts.
    func tables(core: CoreModule) -> [SyncTable] {
        core.coreSyncTables + participants.withLock { $0.flatMap(\.tables) } + [core.conflictSyncTable]
    }

    var candidateStudentQueries: [String] { participants.withLock { $0.compactMap(\.candidateStudentsSQL) } }

    func rederive(_ subjectType: String, _ subjectID: String, _ db: Database) throws {
        if subjectType == "concern" {
            try ConcernStore.rederiveCurrent(db, concernID: subjectID)
            return
        }
        let rederive = participants.withLock { $0.lazy.compactMap { $0.rederive[subjectType] }.first }
        try rederive?(db, subjectID)
    }
}

/// Binds only the named arguments an SQL text uses (GRDB refuses extras).
func namedArguments(_ sql: String, _ all: [String: (any DatabaseValueConvertible)?]) -> StatementArguments {
    StatementArguments(all.filter { sql.contains(":" + $0.key) })
}
