import HavenWire

/// How the server runs one method.
public enum RoutedMethod: Sendable {
    /// One request, one response. The handler returns the encoded response.
    case unary(@Sendable (ServerCall) async throws -> [UInt8])
    /// One request, a stream of responses (ttrpc 1.2 server streaming).
    case serverStreaming(@Sendable (ServerCall, ResponseStreamWriter) async throws -> Void)
    /// Refuse the call with this status (unknown method, disabled plugin, ...).
    case reject(RPCError)
}

/// Maps a service and method name to its handler. The daemon's router
/// implements it; tests implement small ones.
public protocol RPCDispatcher: Sendable {
    func route(service: String, method: String) -> RoutedMethod
}
