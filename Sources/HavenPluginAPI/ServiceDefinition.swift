import HavenRPCServer
import HavenWire
import SwiftProtobuf

/// A protobuf service a plugin (or the core) serves.
public struct ServiceDefinition: Sendable {
    /// Fully qualified, e.g. "haven.screening.v1.Screening".
    public let name: String
    public let methods: [MethodDefinition]

    public init(name: String, methods: [MethodDefinition]) {
        self.name = name
        self.methods = methods
    }
}

/// One method: its message types, who may call it, and its handler.
public struct MethodDefinition: Sendable {
    public enum Handler: Sendable {
        case unary(@Sendable ([UInt8], CallContext) async throws -> [UInt8])
        case serverStreaming(@Sendable ([UInt8], CallContext, ResponseStreamWriter) async throws -> Void)
    }

    public let name: String
    public let inputType: String
    public let outputType: String
    public let access: MethodAccess
    public let handler: Handler
    /// Runs on the connection's event loop (see `runningOnEventLoop()`).
    public private(set) var runsOnEventLoop = false
    /// Answers without a task when it can (see `answeringImmediately`).
    public private(set) var immediate: (@Sendable ([UInt8], CallContext) throws -> [UInt8]?)?

    /// For unary methods that do little Swift work outside their awaits (no
    /// large decoding or encoding, no computing; database closures run on the
    /// database's threads): the call runs on the connection's event loop,
    /// starting there instead of hopping to a task and resuming there after
    /// its database work, saving two thread switches each way. While its
    /// code runs, no other connection on that loop is served — nor while
    /// the child tasks it starts (`async let`, task groups) or the default
    /// actors it calls run, which run on the loop too. Encode a large
    /// answer inside the database closure (`unaryEncoded`), not after it.
    public func runningOnEventLoop() -> MethodDefinition {
        var copy = self
        copy.runsOnEventLoop = true
        return copy
    }

    /// For methods called very often whose answer is usually at hand (Hello,
    /// Health): when the caller's identity is cached and `answer` returns
    /// bytes, the call is answered on the event loop with no task at all.
    /// When `answer` returns nil, or the caller is not cached or not
    /// allowed, the ordinary handler runs (on the event loop), so
    /// what the caller sees never depends on which path answered.
    /// `answer` must not block.
    public func answeringImmediately<Request: SwiftProtobuf.Message>(
        _ request: Request.Type, _ answer: @escaping @Sendable (Request, CallContext) throws -> [UInt8]?
    ) -> MethodDefinition {
        var copy = runningOnEventLoop()
        copy.immediate = { bytes, context in try answer(Self.decode(Request.self, bytes, context), context) }
        return copy
    }

    public var serverStreaming: Bool {
        if case .serverStreaming = handler { true } else { false }
    }

    /// A unary method with typed messages. A request that does not decode is
    /// answered INVALID_ARGUMENT before the handler runs.
    public static func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ name: String, _ request: Request.Type, _ response: Response.Type, access: MethodAccess,
        _ handler: @escaping @Sendable (Request, CallContext) async throws -> Response
    ) -> MethodDefinition {
        MethodDefinition(
            name: name, inputType: Request.protoMessageName, outputType: Response.protoMessageName, access: access,
            handler: .unary { bytes, context in
                let request = try decode(Request.self, bytes, context)
                return try await handler(request, context).serializedBytes()
            })
    }

    /// A unary method whose handler returns its response already encoded,
    /// for answers worth caching in wire form (Health under a monitor's load).
    public static func unaryEncoded<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ name: String, _ request: Request.Type, _ response: Response.Type, access: MethodAccess,
        _ handler: @escaping @Sendable (Request, CallContext) async throws -> [UInt8]
    ) -> MethodDefinition {
        MethodDefinition(
            name: name, inputType: Request.protoMessageName, outputType: Response.protoMessageName, access: access,
            handler: .unary { bytes, context in
                try await handler(try decode(Request.self, bytes, context), context)
            })
    }

    /// A server-streaming method with typed messages.
    public static func serverStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ name: String, _ request: Request.Type, _ response: Response.Type, access: MethodAccess,
        _ handler: @escaping @Sendable (Request, CallContext, MessageStreamWriter<Response>) async throws -> Void
    ) -> MethodDefinition {
        MethodDefinition(
            name: name, inputType: Request.protoMessageName, outputType: Response.protoMessageName, access: access,
            handler: .serverStreaming { bytes, context, writer in
                let request = try decode(Request.self, bytes, context)
                try await handler(request, context, MessageStreamWriter(writer))
            })
    }

    private static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ bytes: [UInt8], _ context: CallContext) throws -> M {
        let message: M
        do {
            message = try M(serializedBytes: bytes)
        } catch {
            throw RPCError.invalidArgument("\(context.call.fullMethod): the request is not a valid \(M.protoMessageName) message (\(error))")
        }
        try RequestValues.check(message, method: context.call.fullMethod)
        return message
    }
}

/// Sends typed messages on a server stream.
public struct MessageStreamWriter<Message: SwiftProtobuf.Message>: Sendable {
    let raw: ResponseStreamWriter

    public init(_ raw: ResponseStreamWriter) { self.raw = raw }

    public func send(_ message: Message) async throws {
        try await raw.send(message.serializedBytes())
    }
}
