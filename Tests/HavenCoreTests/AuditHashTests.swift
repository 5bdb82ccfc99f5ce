@testable import HavenCore
import Testing

/// The chain's hash is a published format (Docs/privacy.md): SHA-256 of the
/// previous hash, a newline, and the entry's fields as `length:value` joined
/// by `|`, lengths in UTF-8 bytes. These values were computed outside Haven
/// (Python's hashlib), so a change in how the bytes are built is caught.
@Suite struct AuditHashTests {
    static let entry = AuditEntryData(
        id: "0190a1b2-0000-7000-8000-000000000001", at: 1_764_547_200_000, actorID: "staff-1", actorName: "Ms Synthetic Counselor",
        actorRoles: "counselor", action: "concern.create", studentID: "stu-1", recordIDs: "c-1,c-2", fields: "category,severity",
        purpose: "", outcome: "ok", method: "haven.v1.Concerns/Create", node: "node-1")

    @Test func theCanonicalTextAndHashAreThePublishedOnes() {
        #expect(AuditLog.canonical(seq: 7, Self.entry) == "1:7|36:0190a1b2-0000-7000-8000-000000000001|13:1764547200000|7:staff-1|22:Ms Synthetic Counselor|9:counselor|14:concern.create|5:stu-1|7:c-1,c-2|17:category,severity|0:|2:ok|24:haven.v1.Concerns/Create|6:node-1")
        #expect(AuditLog.hash(previous: AuditLog.genesis, seq: 7, Self.entry) == "a1622510abb6951ab45e4f0506d4bdcd16336a887674bf84070c14711da81458")
    }

    @Test func lengthsCountUTF8Bytes() {
        var entry = Self.entry
        entry.actorName = "Mme Élodie Test"
        #expect(AuditLog.hash(previous: AuditLog.genesis, seq: 7, entry) == "2a4c6901fbfa76bcfab0abb0ef338728b5174b9d4a0815b5fa9c40f284886b7b")
    }

    @Test func extremeNumbersHashAsComputedOutsideHaven() {
        var entry = Self.entry
        entry.at = .min
        #expect(AuditLog.hash(previous: AuditLog.genesis, seq: .max, entry) == "d65caf8181114e8f4a4a685adeaacd93f64519c9f5bd6d2ee81e0740d1fc771a")
    }

    /// The canonical text as the published format defines it, built the plain
    /// way, against the buffer Haven writes directly.
    static func reference(seq: Int64, _ e: AuditEntryData) -> String {
        [String(seq), e.id, String(e.at), e.actorID, e.actorName, e.actorRoles, e.action, e.studentID,
         e.recordIDs, e.fields, e.purpose, e.outcome, e.method, e.node]
            .map { "\($0.utf8.count):\($0)" }.joined(separator: "|")
    }

    @Test(arguments: [Int64.min, -1_764_547_200_000, -1, 0, 9, 10, 99, 100, 1_764_547_200_000, Int64.max])
    func numbersAndOddTextAreWrittenAsThePublishedFormatSays(_ number: Int64) {
        var entry = Self.entry
        entry.at = number
        entry.purpose = "ends with a newline\n"
        entry.actorName = "a | b: ünïcode\n"
        entry.fields = ""
        // Bytes, not strings: String equality would forgive a difference in
        // Unicode normalization, which the hash would not.
        #expect(AuditLog.canonicalBytes(seq: number, entry) == Array(Self.reference(seq: number, entry).utf8))
        #expect(AuditLog.canonicalBytes(seq: 1, entry, after: "prev") == Array(("prev\n" + Self.reference(seq: 1, entry)).utf8))
    }
}
