import HavenRPCServer
import Logging

/// Everything a handler knows about the call beyond its request message.
public struct CallContext: Sendable {
    public let call: ServerCall
    public let caller: Caller
    private let baseLogger: Logger

    public init(call: ServerCall, caller: Caller, logger: Logger) {
        self.call = call
        self.caller = caller
        self.baseLogger = logger
    }

    /// The daemon's logger with this call's method and connection attached.
    /// Built when a handler logs, not for every call: setting metadata costs
    /// more than most calls do.
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "method"] = "\(call.fullMethod)"
        logger[metadataKey: "connection"] = "\(call.connectionID)"
        return logger
    }

    public var metadata: Metadata { call.metadata }
    public var deadline: ContinuousClock.Instant? { call.deadline }
}
