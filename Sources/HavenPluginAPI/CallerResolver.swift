import HavenRPCServer

/// Turns a call's transport identity (peer credentials, a token in the
/// metadata) into a `Caller`. The core supplies the real one; throwing
/// UNAUTHENTICATED refuses the call.
public protocol CallerResolver: Sendable {
    func resolve(_ call: ServerCall) async throws -> Caller
    /// Told of every call refused by a method's access rule, so it can be audited.
    func recordDenial(_ call: ServerCall, caller: Caller, reason: String) async
    /// The caller, when it is known without waiting (from a cache); nil
    /// when resolving it needs the database or must fail. Never blocks.
    func cachedCaller(_ call: ServerCall) -> Caller?
}

extension CallerResolver {
    public func cachedCaller(_ call: ServerCall) -> Caller? { nil }
}

/// Identifies callers by peer credentials only, with no staff accounts.
public struct PeerOnlyResolver: CallerResolver {
    public init() {}
    public func resolve(_ call: ServerCall) async throws -> Caller { caller(call) }
    public func recordDenial(_ call: ServerCall, caller: Caller, reason: String) async {}
    /// Nothing to look up: every caller is known at once.
    public func cachedCaller(_ call: ServerCall) -> Caller? { caller(call) }

    private func caller(_ call: ServerCall) -> Caller {
        Caller(peer: call.peer, authMethod: call.peer == nil ? .none : .peerCredentials)
    }
}
