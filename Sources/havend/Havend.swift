#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import HavenConfig
import HavenDaemon
import HavenPaths
import HavenPluginAPI
import HavenReferrals
import HavenReporting
import HavenScreening
import Logging
import ServiceLifecycle

/// The plugins compiled into this build; the config decides which run.
let compiledInPlugins: [any HavenPlugin] = [ScreeningPlugin(), ReferralsPlugin(), ReportingPlugin()]

@main
struct Havend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "havend",
        abstract: "The Haven daemon: serves the school's wellbeing records over a Unix socket.",
        version: DaemonRuntime.version)

    @Option(help: "desktop (under your XDG directories) or server (/run/haven, /var/lib/haven).")
    var mode: DaemonMode?

    @Option(help: "Listen on this Unix socket path.")
    var socket: String?

    @Option(name: .customLong("data-dir"), help: "Keep the database in this directory.")
    var dataDir: String?

    @Option(help: "Read this TOML config file (default: the mode's config path if it exists, else the embedded default).")
    var config: String?

    @Flag(help: "Check the config and exit.")
    var checkConfig = false

    @Flag(help: "Seed synthetic demo data (made-up students and staff) into an empty database; the data goes in a separate demo directory unless --data-dir is given, and your uid is linked to the demo counselor Alex Rivera.")
    var demo = false

    func run() async throws {
        // Files the daemon creates (database, WAL) are private to its user;
        // the socket's own mode is set explicitly.
        umask(0o077)

        let overrides = CommandLineOverrides(mode: mode, socketPath: socket, dataDirectory: dataDir, configFile: config)
        var configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(overrides: overrides, plugins: compiledInPlugins)
        } catch {
            printError("havend: the configuration has errors; nothing was started:\n\(error)")
            throw ExitCode(78)  // EX_CONFIG
        }
        if demo {
            configuration.seedDemoData = true
            // Keep demo records apart from real ones.
            if dataDir == nil { configuration.dataDirectory += "-demo" }
        }
        if checkConfig {
            print("configuration OK (\(configuration.source))")
            return
        }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        let logger = Logger(label: "havend")
        let runtime = DaemonRuntime(configuration: configuration, plugins: compiledInPlugins, logger: logger)
        let group = ServiceGroup(
            services: [HavendService(runtime: runtime)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        do {
            try await group.run()
        } catch {
            printError("havend: \(error)")
            throw ExitCode(1)
        }
    }
}

extension DaemonMode: ExpressibleByArgument {}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
