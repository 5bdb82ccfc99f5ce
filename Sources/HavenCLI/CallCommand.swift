import ArgumentParser
import Foundation
import HavenJSON
import HavenProto
import HavenReflection

/// `haven call SERVICE/METHOD --json '{...}'`: calls any method, encoding the
/// JSON request and decoding the response with the descriptors the daemon
/// serves from Daemon/Describe (as grpcurl does with server reflection).
struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call any method with a JSON request, e.g. haven call haven.v1.Daemon/Health --json '{}'.",
        discussion: "Server-streaming methods print one JSON object per message until the stream ends or you press Ctrl-C.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "SERVICE/METHOD, e.g. haven.v1.Daemon/Hello.")
    var method: String?

    @Option(help: "The request as proto3 JSON (default {}). Use @FILE to read it from a file, @- from standard input.")
    var json: String = "{}"

    @Flag(help: "List every service and method the daemon serves, with who may call it.")
    var list = false

    @Flag(help: "Print fields that hold their default value too.")
    var emitDefaults = false

    func validate() throws {
        if !list {
            guard let method, method.split(separator: "/").count == 2 else {
                throw ValidationError("give the method as SERVICE/METHOD, e.g. haven.v1.Daemon/Hello (or use --list)")
            }
        }
    }

    func run() async throws {
        try await withSession(global) { session in
            let describe: Haven_V1_DescribeResponse = try await session.unary(
                "haven.v1.Daemon", "Describe", Haven_V1_DescribeRequest())
            if list {
                printList(describe)
                return
            }
            let parts = method!.split(separator: "/").map(String.init)
            let (service, name) = (parts[0], parts[1])
            let pool = try DescriptorPool(serializedFileDescriptorSet: Array(describe.fileDescriptorSet))
            guard let descriptor = pool.method(service: service, method: name) else {
                // Not described: the service may belong to a disabled plugin.
                // An empty request is valid for any message, so let the daemon
                // say why it can't serve the call.
                if try JSONParser.parse(try readRequestText()) == .object([]) {
                    _ = try await session.client.unary(service: service, method: name, payload: [], timeout: global.callTimeout)
                }
                throw CLIFailure("the daemon does not describe \(service)/\(name); `haven call --list` shows what it serves", exitCode: ExitStatus.usage)
            }
            let transcoder = ProtoJSONTranscoder(pool: pool, emitDefaults: emitDefaults)
            let requestJSON: JSONValue
            do {
                requestJSON = try JSONParser.parse(try readRequestText())
            } catch let error as JSONSyntaxError {
                throw CLIFailure("--json is not valid JSON: \(error)", exitCode: ExitStatus.usage)
            }
            let payload: [UInt8]
            do {
                payload = try transcoder.encode(requestJSON, as: DescriptorPool.typeName(descriptor.inputType))
            } catch let error as TranscodingError {
                throw CLIFailure("--json does not fit \(descriptor.inputType.dropFirst()): \(error)", exitCode: ExitStatus.usage)
            }
            let outputType = DescriptorPool.typeName(descriptor.outputType)
            if descriptor.serverStreaming {
                let stream = session.client.serverStream(service: service, method: name, payload: payload)
                for try await message in stream {
                    print(JSONWriter.write(try transcoder.decode(message, as: outputType), pretty: false))
                }
            } else {
                let response = try await session.client.unary(
                    service: service, method: name, payload: payload, timeout: global.callTimeout)
                print(JSONWriter.write(try transcoder.decode(response, as: outputType)))
            }
        }
    }

    private func readRequestText() throws -> String {
        guard json.hasPrefix("@") else { return json }
        let path = String(json.dropFirst())
        let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: path)
        guard let data, let text = String(data: data, encoding: .utf8) else {
            throw CLIFailure("could not read the request from \(path)", exitCode: ExitStatus.usage)
        }
        return text
    }

    private func printList(_ describe: Haven_V1_DescribeResponse) {
        var table = Table("METHOD", "REQUEST", "RESPONSE", "WHO MAY CALL")
        for service in describe.services {
            for method in service.methods {
                table.add(
                    "\(service.name)/\(method.name)", method.inputType,
                    (method.serverStreaming ? "stream " : "") + method.outputType, method.access)
            }
        }
        print(table.render())
    }
}

extension DescriptorPool {
    static func typeName(_ reference: String) -> String {
        reference.hasPrefix(".") ? String(reference.dropFirst()) : reference
    }
}
