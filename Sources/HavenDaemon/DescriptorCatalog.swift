import Foundation
import HavenPluginAPI
import HavenProto
import SwiftProtobuf

/// Merges the embedded descriptor sets of the core and of running plugins
/// into the one FileDescriptorSet that Daemon/Describe serves.
enum DescriptorCatalog {
    static func merged(_ base64Sets: [String]) throws -> Google_Protobuf_FileDescriptorSet {
        var merged = Google_Protobuf_FileDescriptorSet()
        var seen: Set<String> = []
        for base64 in base64Sets {
            guard let data = Data(base64Encoded: base64) else { continue }
            let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: data)
            for file in set.file where seen.insert(file.name).inserted {
                merged.file.append(file)
            }
        }
        return merged
    }
}
