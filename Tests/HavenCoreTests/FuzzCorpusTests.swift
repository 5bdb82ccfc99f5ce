import Foundation
import HavenFuzzing
import HavenProto
import HavenReferrals
import HavenReporting
import HavenScreening
import HavenTestSupport
import Testing

/// The fuzzers' seeds and every input that once crashed a fuzzer, replayed
/// through the same entry points on every test run (no libFuzzer needed),
/// and a check that the request fuzzer knows every method's request type.
@Suite struct FuzzCorpusTests {
    static func inputs(_ target: FuzzTarget, under folder: String) -> [String] {
        let directory = Binaries.packageRoot + "/Fuzz/\(folder)/\(target.rawValue)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().map { directory + "/" + $0 }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everySeedAndPastCrashRunsCleanly(_ target: FuzzTarget) throws {
        let seeds = Self.inputs(target, under: "corpus")
        #expect(!seeds.isEmpty, "Fuzz/corpus/\(target.rawValue) has no seeds")
        for path in seeds + Self.inputs(target, under: "regressions") {
            target.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        }
    }

    @Test func theRequestFuzzerCoversEveryMethodsRequestType() async throws {
        let h = try await CoreHarness.start(
            config: "[plugins]\nenabled = [\"screening\", \"referrals\", \"reporting\"]\n",
            plugins: [ScreeningPlugin(), ReferralsPlugin(), ReportingPlugin()])
        defer { Task { await h.stop() } }
        let described: Haven_V1_DescribeResponse = try await h.admin.unary("haven.v1.Daemon", "Describe", Haven_V1_DescribeRequest())
        let fuzzed = Set(RequestFuzzing.requestTypes.map { $0.protoMessageName })
        for service in described.services {
            for method in service.methods {
                #expect(fuzzed.contains(method.inputType),
                        "\(service.name)/\(method.name) takes \(method.inputType), which RequestFuzzing.requestTypes does not list")
            }
        }
    }
}
