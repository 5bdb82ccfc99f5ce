import GRDB
import HavenPluginAPI
import HavenProto
import SwiftProtobuf

/// The row checks a server runs on a node's push, as the fuzzers and the
/// corpus replay test call them: any bytes must decode to a push whose
/// rows are accepted or refused with a located error, never a crash.
package enum SyncFuzzEntry {
    /// One table with every column type.
    static let tables = ["things": SyncTable(
        name: "things",
        columns: [.init("id", .text), .init("n", .integer), .init("x", .real), .init("note", .optionalText),
                  .init("m", .optionalInteger), .init("y", .optionalReal)],
        pull: "1")]

    /// Returns how many rows were accepted.
    package static func check(_ bytes: [UInt8]) -> Int {
        guard let request = try? Haven_V1_PushRequest(serializedBytes: bytes) else { return 0 }
        var accepted = 0
        for (position, row) in request.rows.enumerated() {
            do {
                let (table, decoded) = try SyncRowCodec.decode(row, position: position, tables: tables)
                precondition(decoded.values.count == table.columns.count, "an accepted row has every column")
                accepted += 1
            } catch let error as SyncRowError {
                precondition(error.description.hasPrefix("rows[\(position)]"), "a refusal names its row")
            } catch {
                preconditionFailure("unexpected error \(error)")
            }
        }
        return accepted
    }
}
