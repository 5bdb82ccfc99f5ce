import HavenRPCServer
import Logging

/// Everything a handler knows about the call beyond its request message.
public struct CallContext: Sendable {
    public let call: ServerCall
    public let caller: Caller
    public let logger: Logger

    public init(call: ServerCall, caller: Caller, logger: Logger) {
        self.call = call
        self.caller = caller
        self.logger = logger
    }

    public var metadata: Metadata { call.metadata }
    public var deadline: ContinuousClock.Instant? { call.deadline }
}
