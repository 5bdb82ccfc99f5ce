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
    /// Answered on the event loop with no task at all when `immediate`
    /// returns an answer: for methods a monitor or every CLI start calls
    /// (Health, Hello), whose answer is usually at hand. When it returns nil
    /// (a cache to fill, a denial to audit), the async handler starts on the
    /// event loop as with `startOnEventLoop`. `immediate` must not block.
    case immediateWhenPossible(@Sendable (ServerCall) throws -> [UInt8]?)
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
