import HavenRPCServer

/// Turns a call's transport identity (peer credentials, a token in the
/// metadata) into a `Caller`. The core supplies the real one; throwing
/// UNAUTHENTICATED refuses the call.
public protocol CallerResolver: Sendable {
    func resolve(_ call: ServerCall) async throws -> Caller
    /// Told of every call refused by a method's access rule, so it can be audited.
    func recordDenial(_ call: ServerCall, caller: Caller, reason: String) async
}

/// Identifies callers by peer credentials only, with no staff accounts.
public struct PeerOnlyResolver: CallerResolver {
    public init() {}
    public func resolve(_ call: ServerCall) async throws -> Caller {
        Caller(peer: call.peer, authMethod: call.peer == nil ? .none : .peerCredentials)
    }
    public func recordDenial(_ call: ServerCall, caller: Caller, reason: String) async {}
}
