import HavenJSON
import SwiftProtobuf

/// JSON output for scripts: protobuf messages in proto3 JSON, combined
/// with member order kept.
enum JSONOutput {
    static func value(_ message: some SwiftProtobuf.Message) throws -> JSONValue {
        var options = JSONEncodingOptions()
        options.alwaysPrintEnumsAsInts = false
        options.preserveProtoFieldNames = false
        return try JSONParser.parse(message.jsonString(options: options))
    }

    static func print(_ value: JSONValue) {
        Swift.print(JSONWriter.write(value))
    }

    static func print(_ message: some SwiftProtobuf.Message) throws {
        print(try value(message))
    }
}
