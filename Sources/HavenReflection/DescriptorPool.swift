import SwiftProtobuf

/// Every message, enum and service in a FileDescriptorSet, by full name
/// (without the leading dot), so a generic client can encode and decode any
/// call the daemon describes.
public struct DescriptorPool: Sendable {
    public private(set) var messages: [String: Google_Protobuf_DescriptorProto] = [:]
    public private(set) var enums: [String: Google_Protobuf_EnumDescriptorProto] = [:]
    public private(set) var services: [String: Google_Protobuf_ServiceDescriptorProto] = [:]

    public init(_ set: Google_Protobuf_FileDescriptorSet) {
        for file in set.file {
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for message in file.messageType { add(message, prefix: prefix) }
            for e in file.enumType { enums[prefix + e.name] = e }
            for service in file.service { services[prefix + service.name] = service }
        }
    }

    public init(serializedFileDescriptorSet bytes: [UInt8]) throws {
        self.init(try Google_Protobuf_FileDescriptorSet(serializedBytes: bytes))
    }

    private mutating func add(_ message: Google_Protobuf_DescriptorProto, prefix: String) {
        let name = prefix + message.name
        messages[name] = message
        for nested in message.nestedType { add(nested, prefix: name + ".") }
        for e in message.enumType { enums[name + "." + e.name] = e }
    }

    /// "haven.v1.Daemon", "Hello" -> the method, if described.
    public func method(service: String, method: String) -> Google_Protobuf_MethodDescriptorProto? {
        services[service]?.method.first { $0.name == method }
    }

    static func typeName(_ reference: String) -> String {
        reference.hasPrefix(".") ? String(reference.dropFirst()) : reference
    }
}
