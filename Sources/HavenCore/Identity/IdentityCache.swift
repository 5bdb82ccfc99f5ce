import Foundation
import GRDB
import HavenPluginAPI
import HavenLocking
import Synchronization

/// Who a uid or a token is, remembered between calls: resolving an identity
/// takes several reads, and every call needs one. An entry lives until a
/// committed transaction touches any table an identity is made of (staff,
/// roles, schools, uid links, tokens) — a deactivation or a revoked token
/// takes effect on the very next call, as without the cache.
public final class IdentityCache: Sendable {
    enum Key: Hashable, Sendable {
        case uid(UInt32)
        case token(hash: String)
    }

    /// A resolved identity without the connection-specific peer credentials.
    struct Identity: Sendable {
        var staffID: String?
        var displayName: String?
        var roles: Set<Role>
        var accountNote: String?
        var inactiveStaffID: String?
        /// Tokens expire with time as well as by revocation (ms since 1970).
        var validUntil: Int64?
        var unauthenticated: Bool = false
    }

    private struct Entry {
        let generation: UInt64
        let identity: Identity
    }

    /// Tables whose change can alter any identity.
    static let tables: Set<String> = ["staff", "staff_roles", "staff_schools", "staff_uids", "tokens"]

    private let generation = Atomic<UInt64>(0)
    private let entries = Locked<[Key: Entry]>([:])
    private static let capacity = 10_000

    /// The generation to pass to `store` after reading an identity; read it
    /// before reading the database so a change committed meanwhile wins.
    var currentGeneration: UInt64 { generation.load(ordering: .acquiring) }

    func lookup(_ key: Key, now: Int64) -> Identity? {
        let current = currentGeneration
        return entries.withLock { entries in
            guard let entry = entries[key], entry.generation == current else { return nil }
            if let until = entry.identity.validUntil, until <= now { return nil }
            return entry.identity
        }
    }

    func store(_ identity: Identity, for key: Key, readAt generation: UInt64) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(generation: generation, identity: identity)
        }
    }

    func invalidate() {
        generation.add(1, ordering: .releasing)
    }

    /// Watches the writer: after a commit that changed an identity table, every entry is stale.
    func observer() -> some TransactionObserver { Observer(cache: self) }

    private final class Observer: TransactionObserver, @unchecked Sendable {
        let cache: IdentityCache
        // Only touched on the writer's queue.
        var changed = false

        init(cache: IdentityCache) { self.cache = cache }

        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
            IdentityCache.tables.contains(eventKind.tableName)
        }

        func databaseDidChange(with event: DatabaseEvent) {
            changed = true
            stopObservingDatabaseChangesUntilNextTransaction()
        }

        func databaseDidCommit(_ db: Database) {
            if changed { cache.invalidate() }
            changed = false
        }

        func databaseDidRollback(_ db: Database) {
            changed = false
        }
    }
}
