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
    let database: HavenDatabase
    let plugins: PluginHost
    /// Filled once every service is known (the catalog describes itself).
    let describe: @Sendable () -> Haven_V1_DescribeResponse

    var definition: ServiceDefinition {
        ServiceDefinition(name: Self.name, methods: [
            .unary("Hello", Haven_V1_HelloRequest.self, Haven_V1_HelloResponse.self, access: .anyone) { _, context in
                hello(context.caller)
            },
            .unary("Health", Haven_V1_HealthRequest.self, Haven_V1_HealthResponse.self, access: .anyone) { _, _ in
                await health()
            },
            .unary("ListPlugins", Haven_V1_ListPluginsRequest.self, Haven_V1_ListPluginsResponse.self, access: .anyone) { _, _ in
                Haven_V1_ListPluginsResponse.with { $0.plugins = plugins.pluginInfos }
            },
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

    func health() async -> Haven_V1_HealthResponse {
        var components: [Haven_V1_ComponentHealth] = []
        var databaseHealthy = true
        do {
            try await database.ping()
            components.append(.with { $0.name = "database"; $0.healthy = true; $0.detail = "ok" })
        } catch {
            databaseHealthy = false
            components.append(.with { $0.name = "database"; $0.healthy = false; $0.detail = "\(error)" })
        }
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
