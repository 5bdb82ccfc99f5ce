#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Who is on the other end of a Unix-socket connection, as the kernel reports
/// it (SO_PEERCRED) when the connection is accepted. It cannot be forged by
/// the client, which is why it can identify a local staff member.
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "pid \(pid), uid \(uid), gid \(gid)" }

    /// Reads SO_PEERCRED from an accepted Unix-domain socket channel.
    static func read(from channel: Channel) -> EventLoopFuture<PeerCredentials?> {
        #if os(Linux)
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let future: EventLoopFuture<KernelPeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(soPeerCred))
        return future
            .map { Optional(PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid)) }
            .recover { _ in nil }
        #else
        return channel.eventLoop.makeSucceededFuture(nil)
        #endif
    }
}

#if os(Linux)
/// The layout of Linux's `struct ucred` (pid_t, uid_t, gid_t), which Glibc
/// only declares under _GNU_SOURCE and so is not imported into Swift.
struct KernelPeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// SO_PEERCRED from <asm-generic/socket.h> (17; 21 on powerpc).
#if arch(powerpc64) || arch(powerpc64le)
let soPeerCred: Int32 = 21
#else
let soPeerCred: Int32 = 17
#endif
#endif
