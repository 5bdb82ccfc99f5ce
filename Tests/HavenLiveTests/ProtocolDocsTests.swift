import Foundation
import HavenProto
import HavenTestSupport
import Testing

/// Docs/protocol.md's table of every method and who may call it is checked
/// against what a real daemon (default configuration) reports in Describe,
/// so the docs cannot drift from the code.
struct ProtocolDocsTests {
    static let begin = "<!-- methods:begin (checked by ProtocolDocsTests against Daemon/Describe) -->"
    static let end = "<!-- methods:end -->"

    static func table(_ described: Haven_V1_DescribeResponse) -> String {
        var lines = ["| method | request → response | who may call it | served by |", "|---|---|---|---|"]
        for service in described.services.sorted(by: { $0.name < $1.name }) {
            for method in service.methods {
                let output = method.serverStreaming ? "stream `\(method.outputType)`" : "`\(method.outputType)`"
                lines.append("| `\(service.name)/\(method.name)` | `\(method.inputType)` → \(output) | \(method.access) | \(service.pluginID) |")
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test func theMethodTableInProtocolDocsMatchesDescribe() async throws {
        let daemon = try await DaemonProcess().start()
        let client = try await daemon.client()
        let described: Haven_V1_DescribeResponse = try await client.unary("haven.v1.Daemon", "Describe", Haven_V1_DescribeRequest())
        await client.close()
        try await daemon.stop()

        let expected = Self.table(described)
        let docs = try String(contentsOfFile: Binaries.packageRoot + "/Docs/protocol.md", encoding: .utf8)
        guard let start = docs.range(of: Self.begin), let stop = docs.range(of: Self.end, range: start.upperBound..<docs.endIndex) else {
            Issue.record("Docs/protocol.md lacks the \(Self.begin) ... \(Self.end) markers")
            return
        }
        let documented = docs[start.upperBound..<stop.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        if documented != expected, ProcessInfo.processInfo.environment["HAVEN_UPDATE_DOCS"] == "1" {
            let updated = docs.replacingCharacters(in: start.upperBound..<stop.lowerBound, with: "\n" + expected + "\n")
            try updated.write(toFile: Binaries.packageRoot + "/Docs/protocol.md", atomically: true, encoding: .utf8)
            return
        }
        #expect(documented == expected, """
            Docs/protocol.md's method table is out of date: run `HAVEN_UPDATE_DOCS=1 Scripts/test --filter ProtocolDocsTests` \
            to rewrite it, or replace it with:
            \(expected)
            """)
        #expect(described.services.count >= 14)
    }
}
