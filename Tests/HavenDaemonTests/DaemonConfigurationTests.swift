import HavenConfig
import HavenDaemon
import HavenPaths
import HavenPluginAPI
import Testing

@Suite struct DaemonConfigurationTests {
    let plugins: [any HavenPlugin] = [TestPlugin(id: "alpha"), TestPlugin(id: "beta", dependencies: ["alpha"])]
    let environment = ["HOME": "/home/counselor", "XDG_RUNTIME_DIR": "/run/user/1000"]

    func parse(_ text: String, overrides: CommandLineOverrides = CommandLineOverrides()) throws -> DaemonConfiguration {
        try DaemonConfiguration.parse(ConfigDocument(text: text, name: "havend.toml"), overrides: overrides, plugins: plugins, environment: environment)
    }

    func issues(_ text: String) -> [ConfigIssue] {
        do {
            _ = try parse(text)
            return []
        } catch {
            return (error as? ConfigError)?.issues ?? []
        }
    }

    @Test func desktopDefaultsFollowXDG() throws {
        let config = try parse("")
        #expect(config.mode == .desktop)
        #expect(config.socketPath == "/run/user/1000/haven/haven.sock")
        #expect(config.dataDirectory == "/home/counselor/.local/share/haven")
    }

    @Test func serverModeDefaults() throws {
        let config = try parse("[daemon]\nmode = \"server\"\nsocket_group = \"haven\"")
        #expect(config.socketPath == "/run/haven/haven.sock")
        #expect(config.dataDirectory == "/var/lib/haven")
        #expect(config.socketGroup == "haven")
    }

    @Test func flagsOverrideTheFile() throws {
        let config = try parse("[daemon]\nsocket = \"/a.sock\"\ndata_dir = \"/a\"", overrides: CommandLineOverrides(mode: .server, socketPath: "/b.sock", dataDirectory: "/b"))
        #expect(config.mode == .server)
        #expect(config.socketPath == "/b.sock")
        #expect(config.dataDirectory == "/b")
    }

    @Test func pluginSettingsReachThePlugin() throws {
        let config = try parse("[plugins]\nenabled = [\"alpha\"]\n[plugins.alpha]\ngreeting = \"kia ora\"")
        #expect((config.pluginSettings["alpha"] as? TestPlugin.Settings)?.greeting == "kia ora")
        #expect(config.enabledPlugins == ["alpha"])
    }

    @Test func unknownKeysAndWrongTypesAreEachReportedWithTheirLine() {
        let found = issues("""
            [daemon]
            mode = "laptop"
            log_level = 3
            socket_grop = "haven"

            [limits]
            idle_timeout_seconds = "forever"

            [plugins]
            enabled = ["alpha", "gamma"]
            required = ["beta"]

            [plugins.alpha]
            greting = "hi"

            [plugins.zeta]
            x = 1
            """)
        let summary = found.map { "\($0.line ?? 0) \($0.key)" }
        #expect(summary == [
            "2 daemon.mode", "3 daemon.log_level", "4 daemon.socket_grop", "7 limits.idle_timeout_seconds",
            "10 plugins.enabled", "11 plugins.required", "14 plugins.alpha.greting", "16 plugins.zeta",
        ])
        #expect(found[4].message.contains("no plugin with id \"gamma\""))
        #expect(found[5].message.contains("required but not enabled"))
        #expect(found.allSatisfy { $0.file == "havend.toml" })
    }

    @Test func unknownTopLevelTable() {
        let found = issues("[deamon]\nmode = \"desktop\"")
        #expect(found.map(\.key) == ["deamon"])
        #expect(found.first?.message.contains("[daemon], [limits], [access], [concerns], [plugins], [remote] and [sync]") == true)
    }

    @Test func remoteListenMustBeHostAndPort() {
        let found = issues("[remote]\nlisten = \"7443\"\n[sync]\ninterval_seconds = 0")
        #expect(found.map(\.key) == ["remote.listen", "sync.interval_seconds"])
        #expect(found.first?.message.contains("host:port") == true)
        #expect(found.first?.line == 2)
    }
}
