#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HavenProcess
import GRDB
import HavenProto
import HavenRPCClient
import HavenTestSupport
import Logging

/// One benchmark run: builds the baselines, creates the synthetic district,
/// starts a real havend and measures every figure, in the order that keeps
/// each one honest (reads before the writes that change the data).
public final class BenchmarkRun {
    public let scale: BenchmarkScale
    /// The figure groups to measure; all of them when empty.
    public let groups: Set<FigureGroup>
    let logger: Logger
    let scratch: TemporaryDirectory
    let sourceRoot: String
    private(set) var tools: BaselineTools!
    private(set) var daemon: DaemonProcess!
    var peakRSSUnderLoad: Double = 0
    private var helpers: [HelperProcess] = []

    /// `sourceRoot` is the repository (for Benchmarks/ sources).
    public init(scale: BenchmarkScale, groups: Set<FigureGroup> = [], sourceRoot: String, logger: Logger) {
        self.scale = scale
        self.groups = groups
        self.sourceRoot = sourceRoot
        self.logger = logger
        self.scratch = TemporaryDirectory(prefix: "haven-bench")
    }

    /// havend's own directory (socket, data, log, config), kept for the whole run.
    let daemonHome = TemporaryDirectory(prefix: "havenb")
    var databasePath: String { daemonHome.file("data/haven.sqlite") }

    public func run() async throws -> BenchmarkReport {
        let started = Date()
        let clock = ContinuousClock.now
        var figures: [Figure] = []
        logger.info("building the baselines (C echo server, C load generator, containerd ttrpc in Go)")
        tools = try await BaselineTools.build(into: scratch, sourceRoot: sourceRoot)
        if let missing = tools.ttrpcUnavailable { logger.warning("\(missing)") }

        let setup = DistrictSetup(run: self)
        figures += try await setup.importRosterAndFill()
        logger.info("starting havend on the full database")
        figures += try await setup.startDaemon()

        if measures(.unary) {
            logger.info("unary calls: Health against the C echo floor and containerd ttrpc")
            figures += try await UnaryCallFigures(run: self).measure()
            figures.append(Figure("havend resident memory under the throughput test (peak)", value: peakRSSUnderLoad, unit: "MiB", target: .report))
        }
        if measures(.timeline) {
            logger.info("student timeline reads")
            figures += try await TimelineFigures(run: self).measure()
        }
        if measures(.reports) {
            logger.info("reports")
            figures += try await ReportFigures(run: self).measure()
        }
        if measures(.durable) {
            logger.info("durable concern creation")
            figures += try await DurableWriteFigures(run: self).measure()
        }

        try await daemon.stop()
        for helper in helpers { helper.stop() }
        return BenchmarkReport(startedAt: started, scale: scale.name,
                               machine: .current(sqlite: (try? sqliteVersion()) ?? "unknown"),
                               figures: figures, seconds: (ContinuousClock.now - clock).seconds)
    }

    private func measures(_ group: FigureGroup) -> Bool { groups.isEmpty || groups.contains(group) }

    func setDaemon(_ daemon: DaemonProcess) { self.daemon = daemon }

    /// Starts a baseline server on `socket` and waits until it accepts.
    func startHelper(_ executable: String, socket: String, arguments: [String]) throws -> HelperProcess {
        let helper = try HelperProcess(executable: executable, socket: socket, arguments: arguments)
        helpers.append(helper)
        return helper
    }

    func sqliteVersion() throws -> String {
        try DatabaseQueue().read { db in try String.fetchOne(db, sql: "SELECT sqlite_version()") ?? "" }
    }

    /// A client acting as `token`'s staff member (or as the local user without one).
    func client(token: String? = nil) async throws -> RPCClient {
        try await RPCClient.connect(unixSocket: daemon.socketPath, metadata: token.map { [("authorization", "Bearer \($0)")] } ?? [])
    }
}

/// The figures that can be measured on their own (`haven-bench --only`);
/// the import, start and idle-memory figures come with every run.
public enum FigureGroup: String, CaseIterable, Sendable {
    case unary, timeline, reports, durable
}

/// A baseline server process (echo, ttrpc) for the length of a figure.
final class HelperProcess {
    let socket: String
    let process: ChildProcess

    init(executable: String, socket: String, arguments: [String]) throws {
        self.socket = socket
        process = try ChildProcess(executable, [socket] + arguments, stdout: .null, stderr: .inherit)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Self.accepts(socket) { return }
            usleep(5_000)
        }
        stop()
        throw BenchmarkError("\(executable) did not start listening on \(socket)")
    }

    static func accepts(_ path: String) -> Bool {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }

    /// SIGTERM, then SIGKILL after a second.
    func stop() {
        process.stop()
    }
}
