import GRDB
@testable import HavenStorage
import Testing

/// `executeBound`, `fetchFirstBound` and `fetchAllBound`: values reach SQLite as written, a
/// failed write leaves the next one unaffected, and GRDB's own use of the
/// same SQL never mixes its values with theirs.
@Suite struct DirectBindingTests {
    func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, note TEXT, score REAL)") }
        return queue
    }

    @Test func valuesArriveAsBound() throws {
        let queue = try database()
        try queue.write { db in
            try db.executeBound("INSERT INTO t (id, name, note, score) VALUES (?, ?, ?, ?)", Int64(1), "", String?.none, 2.5)
            try db.executeBound("INSERT INTO t (id, name, note, score) VALUES (?, ?, ?, ?)", 2, "Élodie ✓", "a\u{0}b", 0.0)
            try db.executeCached("INSERT INTO t (id, name, note, score) VALUES (?, ?, ?, ?)", [3, "", "a\u{0}b", 0.0])
        }
        try queue.read { db in
            #expect(try String.fetchOne(db, sql: "SELECT name FROM t WHERE id = 1") == "")  // empty, not NULL
            #expect(try Bool.fetchOne(db, sql: "SELECT note IS NULL FROM t WHERE id = 1") == true)
            #expect(try Double.fetchOne(db, sql: "SELECT score FROM t WHERE id = 1") == 2.5)
            #expect(try String.fetchOne(db, sql: "SELECT name FROM t WHERE id = 2") == "Élodie ✓")
            // Text with a NUL is stored as GRDB stores it.
            #expect(try Int.fetchOne(db, sql: "SELECT count(DISTINCT note) FROM t WHERE id IN (2, 3)") == 1)
            let read = try db.fetchFirstBound("SELECT name, note, id FROM t WHERE id = ?", 2) { ($0.text(0), $0.optionalText(1), $0.int64(2)) }
            #expect(read?.0 == "Élodie ✓")
            #expect(read?.1 == "a")  // up to the NUL, as GRDB binds text
            #expect(read?.2 == 2)
            #expect(try db.fetchFirstBound("SELECT note FROM t WHERE id = ?", 1) { $0.optionalText(0) } == .some(nil))
            #expect(try db.fetchFirstBound("SELECT name FROM t WHERE id = ?", 99) { $0.text(0) } == nil)
        }
    }

    @Test func aFailedWriteDoesNotAffectTheNext() throws {
        let queue = try database()
        try queue.write { db in
            let insert = "INSERT INTO t (id, name) VALUES (?, ?)"
            try db.executeBound(insert, 1, "first")
            #expect(throws: DatabaseError.self) { try db.executeBound(insert, 1, "duplicate") }
            try db.executeBound(insert, 2, "second")
            #expect(throws: DatabaseError.self) { try db.executeBound(insert, 3) }  // too few values
            #expect(try String.fetchAll(db, sql: "SELECT name FROM t ORDER BY id") == ["first", "second"])
        }
    }

    @Test func grdbsUseOfTheSameSQLKeepsItsOwnValues() throws {
        let queue = try database()
        try queue.write { db in
            let insert = "INSERT INTO t (id, name) VALUES (?, ?)"
            try db.executeBound(insert, 1, "bound")
            try db.executeCached(insert, [2, "grdb"])
            try db.executeBound(insert, 3, "bound again")
            try db.executeCached(insert, [4, "grdb again"])
            #expect(try String.fetchAll(db, sql: "SELECT name FROM t ORDER BY id") == ["bound", "grdb", "bound again", "grdb again"])
        }
    }

    @Test func everyRowIsReadInOrderAndAThrowingReadLeavesTheStatementReusable() throws {
        struct Stop: Error {}
        let queue = try database()
        try queue.write { db in
            for id in 1...5 { try db.executeBound("INSERT INTO t (id, name) VALUES (?, ?)", id, "n\(id)") }
        }
        try queue.read { db in
            let sql = "SELECT id, name FROM t WHERE id >= ? ORDER BY id"
            func ids(from id: Int) throws -> [Int64] { try db.fetchAllBound(sql, id) { $0.int64(0) } }
            let labelled = try db.fetchAllBound(sql, 2) { "\($0.int64(0)):\($0.text(1))" }
            #expect(labelled == ["2:n2", "3:n3", "4:n4", "5:n5"])
            #expect(try ids(from: 99) == [])
            // A read that throws on the second row stops the query there...
            #expect(throws: Stop.self) {
                _ = try db.fetchAllBound(sql, 1) { row -> Int64 in
                    if row.int64(0) == 2 { throw Stop() }
                    return row.int64(0)
                }
            }
            // ...and the same statement then runs from its start, with new values.
            #expect(try ids(from: 4) == [4, 5])
            // The first-row and all-rows forms of one SQL share its statement.
            let first = try db.fetchFirstBound(sql, 3) { $0.int64(0) }
            #expect(first == 3)
            #expect(try ids(from: 3) == [3, 4, 5])
            let bytes = try db.fetchAllBound(sql, 5) { row in row.withTextBytes(1) { Array($0) } }
            #expect(bytes == [Array("n5".utf8)])
        }
    }

    /// `row[name, in: columns]` reads what `row[name]` reads.
    @Test func columnPositionsReadWhatNamesRead() throws {
        let queue = try database()
        try queue.write { db in
            try db.executeBound("INSERT INTO t (id, name, note, score) VALUES (?, ?, ?, ?)", 1, "first", String?.none, 1.5)
            try db.executeBound("INSERT INTO t (id, name, note, score) VALUES (?, ?, ?, ?)", 2, "second", "a note", 2.5)
        }
        try queue.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, name AS Name, note, score, 'x' AS name2, 'again' AS id FROM t ORDER BY id")
            let columns = ColumnPositions(rows)
            for row in rows {
                #expect((row["id", in: columns] as Int64) == (row["id"] as Int64))  // the first of a repeated name, as GRDB
                #expect((row["name", in: columns] as String) == (row["name"] as String))  // any case, as GRDB
                #expect((row["NAME", in: columns] as String) == (row["Name"] as String))
                #expect((row["note", in: columns] as String?) == (row["note"] as String?))  // NULL is nil
                #expect((row["score", in: columns] as Double) == (row["score"] as Double))
                #expect((row["name2", in: columns] as String) == "x")
                #expect((row["absent", in: columns] as String?) == nil)  // not there: GRDB's own answer
            }
            #expect((rows[0]["note", in: columns] as String?) == nil)
            #expect((rows[1]["note", in: columns] as String?) == "a note")
            // Positions read from no rows: every name goes to GRDB's own lookup.
            let none = ColumnPositions([Row]())
            #expect((rows[1]["note", in: none] as String?) == "a note")
            #expect((rows[1]["NAME", in: none] as String) == "second")
        }
    }

    /// Assembled SQL is cached unless it holds a list whose length varies.
    @Test func assembledStatementsAreCachedUnlessTheyHoldAList() throws {
        try database().read { db in
            let fixed = "SELECT id FROM t WHERE name = ?"
            let (first, second) = (try db.statement(assembled: fixed), try db.statement(assembled: fixed))
            #expect(first === second)
            let list = "SELECT id FROM t WHERE name IN (?, ?)"
            let (one, other) = (try db.statement(assembled: list), try db.statement(assembled: list))
            #expect(one !== other)
        }
    }

    /// The search for a list: anywhere in the SQL, including its very end
    /// and after non-ASCII text; not a near miss, not an empty string.
    @Test func aListIsFoundWhereverItIs() {
        #expect(Database.holdsVariableList("IN (?"))
        #expect(Database.holdsVariableList("SELECT 1 WHERE x IN (?)"))
        #expect(Database.holdsVariableList("SELECT 'é—ü' AS n WHERE x IN (?, ?)"))
        #expect(Database.holdsVariableList(String(repeating: "a", count: 5000) + " IN (?"))
        #expect(!Database.holdsVariableList(""))
        #expect(!Database.holdsVariableList("IN ("))
        #expect(!Database.holdsVariableList("SELECT 1 WHERE x IN (1, 2) AND y = ?"))
        #expect(!Database.holdsVariableList("SELECT 1 WHERE x in (?)"))
    }
}
