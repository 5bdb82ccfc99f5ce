import Foundation
import HavenPaths
import HavenPluginAPI
import HavenProto
import HavenStorage
import SwiftProtobuf

/// haven.v1.Daemon: Hello, Health, ListPlugins, Describe.
struct DaemonService {
    static let name = "haven.v1.Daemon"
    static let protocolVersions: ClosedRange<UInt32> = 1...1

    let version: String
    let mode: DaemonMode
    let nodeID: String
    let startedAt: Date
    let plugins: PluginHost
    /// Filled once every service is known (the catalog describes itself).
    let describe: @Sendable () -> Haven_V1_DescribeResponse
    private let healthProbe: HealthProbe

    init(version: String, mode: DaemonMode, nodeID: String, startedAt: Date, database: HavenDatabase, plugins: PluginHost,
         describe: @escaping @Sendable () -> Haven_V1_DescribeResponse) {
        self.version = version
        self.mode = mode
        self.nodeID = nodeID
        self.startedAt = startedAt
        self.plugins = plugins
        self.describe = describe
        self.healthProbe = HealthProbe(database: database) { problem in
            (try? Self.health(databaseProblem: problem, plugins: plugins, startedAt: startedAt).serializedBytes()) ?? []
        }
    }

    var definition: ServiceDefinition {
        ServiceDefinition(name: Self.name, methods: [
            // Hello, Health and ListPlugins are cheap and called often (monitors,
            // every CLI start): they start on the connection's event loop, and
            // Hello and Health answer there without a task when they can.
            .unary("Hello", Haven_V1_HelloRequest.self, Haven_V1_HelloResponse.self, access: .anyone) { _, context in
                hello(context.caller)
            }.answeringImmediately(Haven_V1_HelloRequest.self) { _, context in
                try hello(context.caller).serializedBytes()
            },
            .unaryEncoded("Health", Haven_V1_HealthRequest.self, Haven_V1_HealthResponse.self, access: .anyone) { [healthProbe] _, _ in
                await healthProbe.answer()
            }.answeringImmediately(Haven_V1_HealthRequest.self) { [healthProbe] _, _ in
                healthProbe.recentAnswer()
            },
            .unary("ListPlugins", Haven_V1_ListPluginsRequest.self, Haven_V1_ListPluginsResponse.self, access: .anyone) { _, _ in
                Haven_V1_ListPluginsResponse.with { $0.plugins = plugins.pluginInfos }
            }.runningOnEventLoop(),
            .unary("Describe", Haven_V1_DescribeRequest.self, Haven_V1_DescribeResponse.self, access: .anyone) { _, _ in
                describe()
            },
        ])
    }

    func hello(_ caller: Caller) -> Haven_V1_HelloResponse {
        Haven_V1_HelloResponse.with { response in
            response.protocol.min = Self.protocolVersions.lowerBound
            response.protocol.max = Self.protocolVersions.upperBound
            response.daemonVersion = version
            response.caller = Haven_V1_CallerIdentity.with { identity in
                identity.pid = UInt32(bitPattern: caller.peer?.pid ?? 0)
                identity.uid = caller.peer?.uid ?? 0
                identity.gid = caller.peer?.gid ?? 0
                identity.authMethod = caller.authMethod.rawValue
                identity.staffID = caller.staffID ?? ""
                identity.displayName = caller.displayName ?? ""
                identity.roles = caller.roles.sorted().map(\.rawValue)
            }
            response.plugins = plugins.snapshot.filter { $0.activation != nil }.map { entry in
                Haven_V1_PluginSummary.with {
                    $0.id = entry.manifest.id
                    $0.version = entry.manifest.version
                }
            }
            response.nodeID = nodeID
            response.mode = mode.rawValue
        }
    }

    static func health(databaseProblem: String?, plugins: PluginHost, startedAt: Date) -> Haven_V1_HealthResponse {
        var components: [Haven_V1_ComponentHealth] = []
        let databaseHealthy = databaseProblem == nil
        components.append(.with { $0.name = "database"; $0.healthy = databaseHealthy; $0.detail = databaseProblem ?? "ok" })
        for entry in plugins.snapshot {
            switch entry.state {
            case .disabled: continue
            case .enabled:
                components.append(.with { $0.name = "plugin:\(entry.manifest.id)"; $0.healthy = true; $0.detail = "running" })
            case .failed(let reason):
                components.append(.with { $0.name = "plugin:\(entry.manifest.id)"; $0.healthy = false; $0.detail = reason })
            }
        }
        return Haven_V1_HealthResponse.with {
            $0.status = databaseHealthy ? .serving : .notServing
            $0.components = components
            $0.startedAt = Google_Protobuf_Timestamp(date: startedAt)
            $0.uptimeSeconds = Int64(Date().timeIntervalSince(startedAt))
        }
    }
}
