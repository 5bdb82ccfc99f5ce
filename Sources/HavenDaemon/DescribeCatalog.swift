import Foundation
import HavenPluginAPI
import HavenProto
import SwiftProtobuf
import HavenLocking

/// The Describe answer, built once at start-up from the services that run.
final class DescribeCatalog: Sendable {
    private let built = Locked(Haven_V1_DescribeResponse())

    var response: Haven_V1_DescribeResponse { built.withLock { $0 } }

    func build(services: [(pluginID: String, service: ServiceDefinition)], descriptorSets: [String]) throws {
        let set = try DescriptorCatalog.merged(descriptorSets)
        let response = try Haven_V1_DescribeResponse.with { response in
            response.fileDescriptorSet = try set.serializedBytes()
            response.services = services.map { pluginID, service in
                Haven_V1_ServiceSummary.with { summary in
                    summary.name = service.name
                    summary.pluginID = pluginID
                    summary.methods = service.methods.map { method in
                        Haven_V1_MethodSummary.with {
                            $0.name = method.name
                            $0.inputType = method.inputType
                            $0.outputType = method.outputType
                            $0.serverStreaming = method.serverStreaming
                            $0.access = method.access.summary
                        }
                    }
                }
            }.sorted { $0.name < $1.name }
        }
        built.withLock { $0 = response }
    }
}
