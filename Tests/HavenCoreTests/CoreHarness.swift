import Foundation
import HavenConfig
import HavenDaemon
import HavenPluginAPI
import HavenProto
import HavenRPCClient
import HavenTestSupport
import HavenWire
import Logging
import SwiftProtobuf

/// The daemon in-process, with a clock the test controls, driven over its
/// real socket: the local administrator (this process's uid) sets things up,
/// and each persona calls with its own token.
final class CoreHarness: @unchecked Sendable {
    let directory = TemporaryDirectory(prefix: "core")
    let clock = ManualClock()
    var daemon: RunningDaemon!
    var admin: RPCClient!
    var configuration: DaemonConfiguration!
    let plugins: [any HavenPlugin]

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    init(plugins: [any HavenPlugin] = []) {
        self.plugins = plugins
    }

    static func start(config: String = "", plugins: [any HavenPlugin] = []) async throws -> CoreHarness {
        let harness = CoreHarness(plugins: plugins)
        harness.configuration = try DaemonConfiguration.parse(
            ConfigDocument(text: config, name: "test.toml"),
            overrides: CommandLineOverrides(socketPath: harness.directory.file("run/h.sock"), dataDirectory: harness.directory.file("data")),
            plugins: plugins, environment: [:])
        try await harness.boot()
        return harness
    }

    func boot() async throws {
        daemon = try await DaemonRuntime(configuration: configuration, plugins: plugins, logger: Self.quiet, clock: clock).start()
        admin = try await RPCClient.connect(unixSocket: daemon.socketPath)
    }

    func restart() async throws {
        await stop()
        try await boot()
    }

    func stop() async {
        await admin?.close()
        await daemon?.stop()
        daemon = nil
    }

    var databasePath: String { configuration.databasePath }

    // MARK: Setting up a school

    /// Imports a synthetic roster through the Roster service; returns the report.
    @discardableResult
    func importRoster(_ files: [String: String], as client: RPCClient? = nil, dryRun: Bool = false) async throws -> Haven_V1_ImportReport {
        let client = client ?? admin!
        let id = UUID().uuidString
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let bytes = Data(text.utf8)
            var offset = 0
            repeat {
                let end = min(offset + (1 << 20), bytes.count)
                let _: Haven_V1_StageFileResponse = try await client.unary("haven.v1.Roster", "StageFile", Haven_V1_StageFileRequest.with {
                    $0.importID = id
                    $0.fileName = name
                    $0.chunk = bytes.subdata(in: offset..<end)
                    $0.last = end == bytes.count
                })
                offset = end
            } while offset < bytes.count
        }
        var report: Haven_V1_ImportReport?
        for try await progress in try client.serverStream("haven.v1.Roster", "Import", Haven_V1_ImportRequest.with { $0.importID = id; $0.dryRun = dryRun },
                                                          as: Haven_V1_ImportProgress.self) where progress.hasReport {
            report = progress.report
        }
        guard let report else { throw TestFailure("the import sent no report") }
        return report
    }

    func student(_ sourceID: String) async throws -> Haven_V1_Student {
        let r: Haven_V1_GetStudentResponse = try await admin.unary("haven.v1.Students", "Get", Haven_V1_GetStudentRequest.with { $0.studentID = sourceID })
        return r.student
    }

    func schoolID(ofStudent sourceID: String) async throws -> String { try await student(sourceID).schoolID }

    /// Creates a staff member; returns their id.
    func addStaff(_ name: String, _ roles: [Role], schools: [String]) async throws -> String {
        let r: Haven_V1_AddStaffResponse = try await admin.unary("haven.v1.Staff", "Add", Haven_V1_AddStaffRequest.with {
            $0.displayName = name
            $0.roles = roles.map(\.rawValue)
            $0.schoolIds = schools
        })
        return r.staff.id
    }

    /// A client that calls as `staffID`, through a token.
    func client(as staffID: String) async throws -> RPCClient {
        let r: Haven_V1_CreateTokenResponse = try await admin.unary("haven.v1.Tokens", "Create", Haven_V1_CreateTokenRequest.with {
            $0.staffID = staffID
            $0.name = "test"
        })
        return try await RPCClient.connect(unixSocket: daemon.socketPath, metadata: [("authorization", "Bearer \(r.secret)")])
    }

    func caseload(_ staffID: String, _ studentIDs: [String]) async throws {
        let _: Haven_V1_CaseloadResponse = try await admin.unary("haven.v1.Staff", "AssignCaseload", Haven_V1_CaseloadRequest.with {
            $0.staffID = staffID
            $0.studentIds = studentIDs
        })
    }

    func unassignCaseload(_ staffID: String, _ studentIDs: [String]) async throws {
        let _: Haven_V1_CaseloadResponse = try await admin.unary("haven.v1.Staff", "UnassignCaseload", Haven_V1_CaseloadRequest.with {
            $0.staffID = staffID
            $0.studentIds = studentIDs
        })
    }
}

extension RPCClient {
    func createConcern(_ studentIDs: [String], category: String = "withdrawal_mood", severity: String = "moderate",
                       narrative: String = "Seemed withdrawn all week.", toldLead: String = "") async throws -> Haven_V1_CreateConcernResponse {
        try await unary("haven.v1.Concerns", "Create", Haven_V1_CreateConcernRequest.with {
            $0.studentIds = studentIDs
            $0.category = category
            $0.severity = severity
            $0.narrative = narrative
            $0.toldLeadInPerson = toldLead
        })
    }

    func getConcern(_ id: String) async throws -> Haven_V1_Concern {
        try await unary("haven.v1.Concerns", "Get", Haven_V1_GetConcernRequest.with { $0.concernID = id })
    }

    func timeline(_ studentID: String) async throws -> Haven_V1_GetTimelineResponse {
        try await unary("haven.v1.Timeline", "Get", Haven_V1_GetTimelineRequest.with { $0.studentID = studentID })
    }

    func listConcerns(_ configure: (inout Haven_V1_ListConcernsRequest) -> Void = { _ in }) async throws -> Haven_V1_ListConcernsResponse {
        var request = Haven_V1_ListConcernsRequest()
        configure(&request)
        return try await unary("haven.v1.Concerns", "List", request)
    }
}

/// The status code a call failed with, or nil if it succeeded.
func statusOf(_ body: () async throws -> Void) async -> (code: StatusCode, message: String)? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return (error.code, error.message)
    }  catch {
        return (.unknown, "\(error)")
    }
}
