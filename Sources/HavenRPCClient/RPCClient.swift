import Foundation
import HavenProto
import HavenWire
import NIOCore
import NIOPosix
import SwiftProtobuf

/// The client could not reach the daemon at all.
public struct ConnectionError: Error, CustomStringConvertible {
    public let socketPath: String
    public let underlying: String
    public var description: String { "could not connect to \(socketPath): \(underlying)" }
}

/// An async ttrpc client over a Unix socket. One connection carries many
/// concurrent calls; each gets its own odd stream id.
public final class RPCClient: Sendable {
    private let channel: Channel
    public let socketPath: String
    /// Sent as metadata on every call (for example an authorization token).
    public let defaultMetadata: [(key: String, value: String)]

    private init(channel: Channel, socketPath: String, defaultMetadata: [(key: String, value: String)]) {
        self.channel = channel
        self.socketPath = socketPath
        self.defaultMetadata = defaultMetadata
    }

    public static func connect(
        unixSocket path: String,
        metadata: [(key: String, value: String)] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RPCClient {
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ClientConnectionHandler())
                    }
                }
                .connect(unixDomainSocketPath: path)
                .get()
            return RPCClient(channel: channel, socketPath: path, defaultMetadata: metadata)
        } catch {
            throw ConnectionError(socketPath: path, underlying: "\(error)")
        }
    }

    /// Connects over TCP; `secure` puts TLS in front of the connection (the
    /// daemon accepts nothing else on TCP). The TLS handshake completes
    /// before the first call is written.
    public static func connect(
        host: String, port: Int,
        metadata: [(key: String, value: String)] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectTimeout: Duration = .seconds(10),
        secure: @escaping @Sendable (Channel) throws -> Void
    ) async throws -> RPCClient {
        let address = "\(host):\(port)"
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(connectTimeout.components.seconds * 1_000_000_000)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try secure(channel)
                        try channel.pipeline.syncOperations.addHandler(ClientConnectionHandler())
                    }
                }
                .connect(host: host, port: port)
                .get()
            return RPCClient(channel: channel, socketPath: address, defaultMetadata: metadata)
        } catch {
            throw ConnectionError(socketPath: address, underlying: "\(error)")
        }
    }

    public func close() async {
        try? await channel.close()
    }

    private func request(service: String, method: String, payload: [UInt8], metadata: [(key: String, value: String)], timeout: Duration?) -> Ttrpc_Request {
        var request = Ttrpc_Request()
        request.service = service
        request.method = method
        request.payload = Data(payload)
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            request.timeoutNano = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        }
        request.metadata = (defaultMetadata + metadata).map { pair in
            var kv = Ttrpc_KeyValue()
            kv.key = pair.key
            kv.value = pair.value
            return kv
        }
        return request
    }

    /// Writes a call. A write the channel refuses — it closed before the call
    /// reached the connection's handler, so nobody else will answer it —
    /// fails the call instead of leaving its caller waiting forever.
    private func send(_ call: OutboundCall) {
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in
            call.responder.fail(RPCError(.unavailable, "the connection to havend is closed"))
        }
        channel.writeAndFlush(call, promise: written)
    }

    /// One unary call with an encoded payload. Throws `RPCError` for a non-OK status.
    public func unary(
        service: String, method: String, payload: [UInt8],
        metadata: [(key: String, value: String)] = [], timeout: Duration? = nil
    ) async throws -> [UInt8] {
        let promise = channel.eventLoop.makePromise(of: [UInt8].self)
        let call = OutboundCall(
            request: request(service: service, method: method, payload: payload, metadata: metadata, timeout: timeout),
            flags: [], responder: .unary(promise))
        send(call)
        return try await promise.futureResult.get()
    }

    /// A typed unary call.
    public func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ service: String, _ method: String, _ request: Request, as: Response.Type = Response.self,
        metadata: [(key: String, value: String)] = [], timeout: Duration? = nil
    ) async throws -> Response {
        let bytes = try await unary(
            service: service, method: method, payload: try request.serializedBytes(), metadata: metadata, timeout: timeout)
        return try Response(serializedBytes: bytes)
    }

    /// A server-streaming call: the request is sent with remote-closed (the
    /// client sends no more), and each Data frame is one element.
    public func serverStream(
        service: String, method: String, payload: [UInt8],
        metadata: [(key: String, value: String)] = [], timeout: Duration? = nil
    ) -> AsyncThrowingStream<[UInt8], Error> {
        let (stream, continuation) = AsyncThrowingStream<[UInt8], Error>.makeStream()
        let call = OutboundCall(
            request: request(service: service, method: method, payload: payload, metadata: metadata, timeout: timeout),
            flags: [.remoteClosed], responder: .stream(continuation))
        send(call)
        return stream
    }

    /// A typed server-streaming call.
    public func serverStream<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ service: String, _ method: String, _ request: Request, as: Response.Type = Response.self,
        metadata: [(key: String, value: String)] = [], timeout: Duration? = nil
    ) throws -> AsyncThrowingMapSequence<AsyncThrowingStream<[UInt8], Error>, Response> {
        serverStream(service: service, method: method, payload: try request.serializedBytes(), metadata: metadata, timeout: timeout)
            .map { try Response(serializedBytes: $0) }
    }
}
