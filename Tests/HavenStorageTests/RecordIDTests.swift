import Foundation
import HavenStorage
import Testing

/// Record ids are UUIDv7: unique, time-ordered within the process, with the
/// version and variant bits set. Their random bits come from a pool drawn in
/// bulk, so many ids in one millisecond must still all differ.
@Suite struct RecordIDTests {
    @Test func idsMadeInOneMillisecondAreUniqueOrderedAndWellFormed() {
        let now = Date()
        let ids = (0..<10_000).map { _ in RecordID.make(at: now) }
        #expect(Set(ids).count == ids.count)
        #expect(ids == ids.sorted())
        for id in ids.prefix(300) {
            #expect(RecordID.isValid(id))
            let hex = Array(id.replacingOccurrences(of: "-", with: ""))
            #expect(hex[12] == "7", "version nibble of \(id)")
            #expect("89ab".contains(hex[16]), "variant bits of \(id)")
        }
        // The random tails differ (they are not a counter).
        #expect(Set(ids.map { $0.suffix(12) }).count == ids.count)
    }

    @Test func idsFromManyThreadsNeverCollide() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 { group.addTask { (0..<2_000).map { _ in RecordID.make() } } }
            var all: [String] = []
            for await batch in group { all += batch }
            return all
        }
        #expect(Set(ids).count == 16_000)
    }
}
