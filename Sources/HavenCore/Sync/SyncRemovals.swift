import GRDB
import HavenPluginAPI
import HavenProto

extension SyncServer {
    /// Rows the node holds that its owner no longer sees: rows of a student
    /// who was visible at the last pull and is not now. Only rows the server
    /// holds are taken back — those it sent (in `node_sent`) and those the
    /// node made and pushed — so nothing not yet on the server is removed;
    /// directory rows stay. Pending until the node confirms, so a crash
    /// cannot lose one.
    func removals(tables: [SyncTable], scope: PullScope, node: String, db: Database) throws -> [Haven_V1_SyncRowRef] {
        let previous = Set(try String.fetchAll(db, sql: "SELECT student_id FROM node_students WHERE node_id = ?", arguments: [node]))
        let gone = previous.subtracting(scope.visible)
        var values = scope.arguments
        values["node"] = node
        values["gone"] = PullScope.json(gone.sorted())
        for (position, table) in tables.enumerated() where table.pull.contains(":students") {
            let now = table.pull
            if !gone.isEmpty {
                let was = now.replacingOccurrences(of: ":students", with: ":gone")
                let sql = """
                    INSERT OR IGNORE INTO node_removals (node_id, table_name, key, position)
                    SELECT :node, '\(table.name)', k, \(position) FROM (
                        SELECT \(table.keySQL) AS k\(table.columnNames.contains("origin_node") ? ", origin_node AS o" : "") FROM \(table.name)
                        WHERE (\(was)) AND NOT (\(now)))
                    WHERE EXISTS (SELECT 1 FROM node_sent s WHERE s.node_id = :node AND s.key = k)\(table.columnNames.contains("origin_node") ? " OR o = :node" : "")
                    """
                try db.execute(sql: sql, arguments: namedArguments(sql, values))
            }
            // A student seen again: what was pending removal stays after all.
            let keep = """
                DELETE FROM node_removals WHERE node_id = :node AND table_name = '\(table.name)'
                AND key IN (SELECT \(table.keySQL) FROM \(table.name) WHERE \(now))
                """
            try db.execute(sql: keep, arguments: namedArguments(keep, values))
        }
        let pending = try Row.fetchAll(db, sql: """
            SELECT table_name, key FROM node_removals WHERE node_id = ? ORDER BY position DESC, key
            """, arguments: [node])
        try db.execute(sql: "DELETE FROM node_sent WHERE node_id = ? AND key IN (SELECT key FROM node_removals WHERE node_id = ?)",
                       arguments: [node, node])
        try db.execute(sql: "DELETE FROM node_students WHERE node_id = ?", arguments: [node])
        for student in scope.visible {
            try db.execute(sql: "INSERT INTO node_students (node_id, student_id) VALUES (?, ?)", arguments: [node, student])
        }
        return pending.map { row in .with { $0.table = row["table_name"]; $0.key = row["key"] } }
    }
}

extension SyncAgent {
    /// Deletes rows the server took back, children first (the server orders
    /// them), with what is derived from them. A row something here still
    /// refers to (a record made on this desktop and not yet on the server)
    /// stays: its removal is rolled back alone, and it is counted as kept.
    static func remove(_ refs: [Haven_V1_SyncRowRef], tables: [String: SyncTable], _ db: Database) throws -> (removed: Int, kept: Int) {
        var removed = 0
        var kept = 0
        for ref in refs {
            guard let table = tables[ref.table] else { continue }
            do {
                try db.inSavepoint {
                    for statement in table.onRemove {
                        try db.execute(sql: statement, arguments: ["key": ref.key])
                    }
                    try db.execute(sql: "DELETE FROM \(table.name) WHERE \(table.keySQL) = ?", arguments: [ref.key])
                    removed += db.changesCount
                    return .commit
                }
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
                kept += 1
            }
        }
        return (removed, kept)
    }
}
