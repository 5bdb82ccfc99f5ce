import HavenWire

/// Where a handler starts running.
public enum HandlerExecution: Sendable {
    /// In a new task on the global executor: the default, and right for any
    /// handler that may compute or decode much before it first awaits.
    case task
    /// On the connection's event loop: the handler starts there
    /// (`Task.immediate`) and resumes there after each await, so a call whose
    /// work is awaited elsewhere (the database's threads) crosses threads
    /// twice instead of four times. For methods whose own Swift work around
    /// their awaits is small (Hello, Health, a timeline, whose rows become
    /// messages on the database's thread); a handler that would hold the
    /// loop must not use it.
    case onEventLoop
    /// Answered on the event loop with no task at all when `immediate`
    /// returns an answer: for methods a monitor or every CLI start calls
    /// (Health, Hello), whose answer is usually at hand. When it returns nil
    /// (a cache to fill, a denial to audit), the async handler starts on the
    /// event loop as with `onEventLoop`. `immediate` must not block.
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
