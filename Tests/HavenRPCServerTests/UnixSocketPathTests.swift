import Foundation
@testable import HavenRPCServer
import HavenTestSupport
import Logging
import NIOPosix
import Testing

@Suite struct UnixSocketPathTests {
    let logger = Logger(label: "test")

    func mode(_ path: String) -> mode_t {
        var info = stat()
        stat(path, &info)
        return info.st_mode & 0o7777
    }

    @Test func createsAMissingDirectoryWithMode0770() throws {
        let dir = TemporaryDirectory()
        let socket = dir.file("a/b/haven.sock")
        try UnixSocketPath.prepare(socket, group: getgid(), logger: logger)
        #expect(mode(dir.file("a/b")) == 0o770)
    }

    @Test func leavesAnExistingSharedDirectoryAlone() throws {
        let dir = TemporaryDirectory()
        chmod(dir.path, 0o1777)
        try UnixSocketPath.prepare(dir.file("haven.sock"), group: nil, logger: logger)
        #expect(mode(dir.path) == 0o1777)
    }

    @Test func socketGetsMode0660() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("run/haven.sock")
        let server = RPCServer(dispatcher: TestDispatcher(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        try UnixSocketPath.prepare(path, group: getgid(), logger: logger)
        try await server.start(socketPath: path, socketGroup: getgid())
        #expect(mode(path) == 0o660)
        await server.shutdownGracefully()
    }

    @Test func replacesAStaleSocket() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("haven.sock")
        // A socket file that nobody listens on, as a crashed daemon leaves it.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        #expect(FileManager.default.fileExists(atPath: path))
        try UnixSocketPath.prepare(path, group: nil, logger: logger)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func refusesWhenAnotherDaemonIsListening() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("haven.sock")
        let server = RPCServer(dispatcher: TestDispatcher(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        try await server.start(socketPath: path, socketGroup: nil)
        #expect {
            try UnixSocketPath.prepare(path, group: nil, logger: logger)
        } throws: { error in
            "\(error)".contains("another havend is already listening on \(path)")
        }
        await server.shutdownGracefully()
    }

    @Test func refusesAFileThatIsNotASocket() throws {
        let dir = TemporaryDirectory()
        let path = try dir.write("haven.sock", "not a socket")
        #expect { try UnixSocketPath.prepare(path, group: nil, logger: logger) } throws: { "\($0)".contains("is not a socket") }
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func refusesAPathTooLongForSunPath() throws {
        let path = "/tmp/" + String(repeating: "x", count: 120) + "/haven.sock"
        #expect { try UnixSocketPath.prepare(path, group: nil, logger: logger) } throws: { "\($0)".contains("at most 107") }
    }

    @Test func unknownGroupIsAClearError() throws {
        #expect { try UnixSocketPath.groupID(named: "no-such-group-haven") } throws: { "\($0)".contains("does not exist") }
    }
}
