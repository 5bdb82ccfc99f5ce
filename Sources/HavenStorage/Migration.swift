import GRDB

/// One schema change. Identifiers are namespaced by their owner ("core",
/// or a plugin id), so plugins can never collide with each other or the core:
/// the stored identifier is "<namespace>/<name>".
public struct Migration: Sendable {
    public let name: String
    public let apply: @Sendable (Database) throws -> Void

    public init(_ name: String, apply: @escaping @Sendable (Database) throws -> Void) {
        self.name = name
        self.apply = apply
    }
}

/// The ordered migrations of one owner.
public struct MigrationSet: Sendable {
    public let namespace: String
    public let migrations: [Migration]

    public init(namespace: String, migrations: [Migration]) {
        self.namespace = namespace
        self.migrations = migrations
    }

    public var identifiers: [String] { migrations.map { "\(namespace)/\($0.name)" } }
}
