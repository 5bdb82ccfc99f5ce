import Crypto
import Foundation
import GRDB
import HavenStorage

/// One audit entry as written. Holds ids and field names, never narrative.
struct AuditEntryData: Sendable {
    var id: String
    var at: Int64
    var actorID: String
    var actorName: String
    var actorRoles: String
    var action: String
    var studentID: String
    var recordIDs: String
    var fields: String
    var purpose: String
    var outcome: String
    var method: String
    var node: String
}

/// The hash-chained audit log. Each entry's hash is SHA-256 of the previous
/// entry's hash and the entry's canonical text, so changing, removing or
/// reordering any entry breaks every hash after it; the chain's head is kept
/// in `audit_head`, so a truncated tail shows too.
enum AuditLog {
    static let genesis = String(repeating: "0", count: 64)

    /// The text that is hashed: every column in a fixed order, each field
    /// length-prefixed so no two entries can share a canonical form.
    static func canonical(seq: Int64, _ e: AuditEntryData) -> String {
        String(decoding: canonicalBytes(seq: seq, e), as: UTF8.self)
    }

    /// The canonical text's bytes, written straight into one buffer: no
    /// string per field, none for the numbers (this runs for every audit
    /// entry, inside the writer).
    static func canonicalBytes(seq: Int64, _ e: AuditEntryData, after prefix: String? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        if let prefix {
            out.append(contentsOf: prefix.utf8)
            out.append(UInt8(ascii: "\n"))
        }
        appendField(decimal: seq, to: &out, separated: false)
        appendField(e.id.utf8, to: &out)
        appendField(decimal: e.at, to: &out)
        for text in [e.actorID, e.actorName, e.actorRoles, e.action, e.studentID, e.recordIDs, e.fields, e.purpose, e.outcome, e.method, e.node] {
            appendField(text.utf8, to: &out)
        }
        return out
    }

    /// `length:bytes`, the length in bytes, after a `|` unless it is the first field.
    private static func appendField(_ bytes: some Collection<UInt8>, to out: inout [UInt8], separated: Bool = true) {
        if separated { out.append(UInt8(ascii: "|")) }
        withDecimal(Int64(bytes.count)) { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: bytes)
    }

    /// A number as a field: its decimal text, as `String(value)` writes it.
    private static func appendField(decimal value: Int64, to out: inout [UInt8], separated: Bool = true) {
        withDecimal(value) { appendField($0, to: &out, separated: separated) }
    }

    /// Calls `body` with `value`'s decimal text, written on the stack.
    private static func withDecimal(_ value: Int64, _ body: (Slice<UnsafeMutableBufferPointer<UInt8>>) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            let count = writeDecimal(value, into: digits)
            body(digits[digits.count - count ..< digits.count])
        }
    }

    /// Writes `value`'s decimal text at the end of `buffer` (20 bytes hold
    /// any Int64 with its sign); returns how many bytes it took.
    private static func writeDecimal(_ value: Int64, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var magnitude = value.magnitude
        var index = buffer.count
        repeat {
            index -= 1
            buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 {
            index -= 1
            buffer[index] = UInt8(ascii: "-")
        }
        return buffer.count - index
    }

    /// SHA-256 of the previous hash, a newline and the entry's canonical text.
    static func hash(previous: String, seq: Int64, _ entry: AuditEntryData) -> String {
        Hex.encode(digest: SHA256.hash(data: canonicalBytes(seq: seq, entry, after: previous)))
    }

    /// Appends in the current transaction; returns the entry's sequence number.
    @discardableResult
    static func append(_ db: Database, _ entry: AuditEntryData) throws -> Int64 {
        let head = try db.fetchFirstBound("SELECT seq, hash FROM audit_head WHERE singleton = 1") { ($0.int64(0), $0.text(1)) }
        let seq = (head?.0 ?? 0) + 1
        let previous = head?.1 ?? genesis
        let hash = hash(previous: previous, seq: seq, entry)
        try db.executeBound("""
            INSERT INTO audit_log (seq, id, at, actor_id, actor_name, actor_roles, action, student_id, record_ids, fields,
                                   purpose, outcome, method, node, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            seq, entry.id, entry.at, entry.actorID, entry.actorName, entry.actorRoles, entry.action, entry.studentID,
            entry.recordIDs, entry.fields, entry.purpose, entry.outcome, entry.method, entry.node, previous, hash)
        try db.executeBound("""
            INSERT INTO audit_head (singleton, seq, hash) VALUES (1, ?, ?)
            ON CONFLICT(singleton) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
            """, seq, hash)
        return seq
    }

    struct Verification: Sendable, Equatable {
        var ok: Bool
        var checked: Int64
        var firstBadSequence: Int64
        var problem: String
        var headHash: String
    }

    /// Walks the chain from the first entry.
    static func verify(_ db: Database) throws -> Verification {
        var expectedSeq: Int64 = 1
        var previous = genesis
        var checked: Int64 = 0
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: "SELECT * FROM audit_log ORDER BY seq"))
        while let row = try cursor.next() {
            let seq: Int64 = row["seq"]
            func bad(_ problem: String) -> Verification {
                Verification(ok: false, checked: checked, firstBadSequence: seq, problem: problem, headHash: previous)
            }
            if seq != expectedSeq {
                return Verification(ok: false, checked: checked, firstBadSequence: expectedSeq,
                                    problem: "entry \(expectedSeq) is missing (the next entry is \(seq))", headHash: previous)
            }
            let storedPrevious: String = row["prev_hash"]
            if storedPrevious != previous {
                return bad("entry \(seq) does not follow entry \(seq - 1): its previous-hash does not match (entries removed or reordered)")
            }
            let entry = AuditEntryData(
                id: row["id"], at: row["at"], actorID: row["actor_id"], actorName: row["actor_name"], actorRoles: row["actor_roles"],
                action: row["action"], studentID: row["student_id"], recordIDs: row["record_ids"], fields: row["fields"],
                purpose: row["purpose"], outcome: row["outcome"], method: row["method"], node: row["node"])
            let computed = hash(previous: previous, seq: seq, entry)
            let stored: String = row["hash"]
            if computed != stored {
                return bad("entry \(seq) has been changed: its content no longer matches its hash")
            }
            previous = stored
            expectedSeq += 1
            checked += 1
        }
        let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM audit_head WHERE singleton = 1"))
        let headSeq: Int64 = head?["seq"] ?? 0
        let headHash: String = head?["hash"] ?? genesis
        if headSeq != checked || headHash != previous {
            return Verification(
                ok: false, checked: checked, firstBadSequence: checked + 1,
                problem: "the log ends at entry \(checked) but its recorded head is entry \(headSeq): entries were removed from the end", headHash: previous)
        }
        return Verification(ok: true, checked: checked, firstBadSequence: 0, problem: "", headHash: previous)
    }
}
