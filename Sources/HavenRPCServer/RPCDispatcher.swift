import HavenWire

/// Where a handler starts running.
public enum HandlerExecution: Sendable {
    /// In a new task on the global executor: the default, and right for any
    /// handler that may compute or decode much before it first awaits.
    case task
    /// On the connection's event loop, continuing there until the handler's
    /// first suspension (`Task.immediate`). For cheap methods (Hello,
    /// Health) this saves two thread hops per call; a handler that would
    /// hold the loop must not use it.
    case startOnEventLoop
}

/// How the server runs one method.
public enum RoutedMethod: Sendable {
    /// One request, one response. The handler returns the encoded response.
    case unary(@Sendable (ServerCall) async throws -> [UInt8], HandlerExecution = .task)
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
