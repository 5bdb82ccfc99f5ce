import Logging
import NIOCore

/// One connection's handler for the fuzzers and the corpus replay test,
/// which drive it on an embedded channel with arbitrary bytes.
package enum ConnectionFuzzEntry {
    package static func handler(dispatcher: any RPCDispatcher, limits: ServerLimits) -> any ChannelHandler {
        ServerConnectionHandler(
            dispatcher: dispatcher, limits: limits, peer: PeerCredentials(pid: 1, uid: 1000, gid: 1000), connectionID: 1,
            logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}
