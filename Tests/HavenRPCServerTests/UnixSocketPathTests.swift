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

    /// Binds a socket at `path` and closes it without listening: the file a
    /// crashed daemon leaves.
    func abandonSocket(at path: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
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
        abandonSocket(at: path)
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
        #expect { try UnixSocketPath.prepare(path, group: nil, logger: logger) } throws: { "\($0)".contains("at most 103") }
        // Short enough for sun_path, not for the name it is bound under
        // first; 103 bytes is.
        let dir = TemporaryDirectory()
        let padding = { (total: Int) in dir.path + "/" + String(repeating: "x", count: total - dir.path.utf8.count - "//haven.sock".utf8.count) + "/haven.sock" }
        #expect(padding(105).utf8.count == 105)
        #expect { try UnixSocketPath.prepare(padding(105), group: nil, logger: logger) } throws: { "\($0)".contains("at most 103") }
        #expect(padding(103).utf8.count == 103)
        try UnixSocketPath.prepare(padding(103), group: nil, logger: logger)
    }

    /// The directory's events, in order, from a non-blocking inotify descriptor.
    func events(_ watch: Int32) -> [(name: String, mask: UInt32)] {
        var events: [(name: String, mask: UInt32)] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { read(watch, $0.baseAddress, $0.count) }
        var offset = 0
        while offset < count {
            let (mask, length) = buffer.withUnsafeBytes { raw in
                let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                return (event.mask, Int(event.len))
            }
            let nameStart = offset + MemoryLayout<inotify_event>.size
            let name = String(decoding: buffer[nameStart..<(nameStart + length)].prefix { $0 != 0 }, as: UTF8.self)
            events.append((name, mask))
            offset = nameStart + length
        }
        return events
    }

    /// Bound beside its path, given its mode there, and only then linked at
    /// its path (the socket is never at its path with the umask's mode),
    /// leaving nothing beside it.
    @Test func theSocketAppearsWithItsModeAndNothingBesideIt() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("haven.sock")
        try UnixSocketPath.prepare(path, group: nil, logger: logger)
        let watch = inotify_init1(Int32(IN_NONBLOCK))
        #expect(watch >= 0)
        defer { close(watch) }
        #expect(inotify_add_watch(watch, dir.path, UInt32(IN_CREATE | IN_MOVED_TO | IN_ATTRIB)) >= 0)
        let server = RPCServer(dispatcher: TestDispatcher(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        try await server.start(socketPath: path, socketGroup: nil)
        let seen = events(watch)
        // The mode changed under the staging name, before the socket had its
        // own name; never under its own name.
        let modeSet = seen.firstIndex { $0.name == "haven.sock.new" && $0.mask & UInt32(IN_ATTRIB) != 0 }
        let appeared = seen.firstIndex { $0.name == "haven.sock" }
        #expect(modeSet != nil && appeared != nil && modeSet! < appeared!, "\(seen)")
        #expect(!seen.contains { $0.name == "haven.sock" && $0.mask & UInt32(IN_ATTRIB) != 0 }, "\(seen)")
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(!FileManager.default.fileExists(atPath: path + ".new"))
        #expect(UnixSocketPath.probe(path) == .listening)
        await server.shutdownGracefully()
    }

    /// Two daemons started on one path at once (both past `prepare`): the
    /// second stops, and the first keeps its socket.
    @Test func aSecondServerOnTheSamePathStopsAndLeavesTheFirstsSocket() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("haven.sock")
        let first = RPCServer(dispatcher: TestDispatcher(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        try await first.start(socketPath: path, socketGroup: nil)
        var before = stat()
        lstat(path, &before)
        let second = RPCServer(dispatcher: TestDispatcher(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        await #expect { try await second.start(socketPath: path, socketGroup: nil) } throws: {
            "\($0)".contains("another havend is already listening on \(path)")
        }
        var after = stat()
        lstat(path, &after)
        #expect(after.st_ino == before.st_ino, "the first server's socket is still the one at the path")
        #expect(!FileManager.default.fileExists(atPath: path + ".new"))
        #expect(UnixSocketPath.probe(path) == .listening)
        await second.shutdownGracefully()
        await first.shutdownGracefully()
    }

    /// A file put at the socket's path after `prepare` (not a socket) is
    /// left alone: the move stops instead of replacing it.
    @Test func aFileAtThePathIsNeverReplacedByTheMove() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("haven.sock")
        abandonSocket(at: path + ".new")
        let file = try dir.write("haven.sock", "someone's file")
        #expect { try UnixSocketPath.moveIntoPlace(path + ".new", path) } throws: { "\($0)".contains("is not a socket") }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "someone's file")
    }

    @Test func aStagingSocketLeftByACrashIsReplacedOneListeningOrAFileIsRefused() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("haven.sock")
        // A crash between the bind and the link.
        abandonSocket(at: path + ".new")
        #expect(FileManager.default.fileExists(atPath: path + ".new"))
        #expect(try UnixSocketPath.removeStaleStaging(for: path) == path + ".new")
        #expect(!FileManager.default.fileExists(atPath: path + ".new"))

        // Another daemon, starting on the same path now.
        let starting = RPCServer(dispatcher: TestDispatcher(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        try await starting.start(socketPath: path + ".new", socketGroup: nil)  // listening at the staging name
        #expect { try UnixSocketPath.removeStaleStaging(for: path) } throws: { "\($0)".contains("another havend is starting on \(path)") }
        #expect(UnixSocketPath.probe(path + ".new") == .listening)
        await starting.shutdownGracefully()
        unlink(path + ".new")

        _ = try dir.write("haven.sock.new", "not a socket")
        #expect { try UnixSocketPath.removeStaleStaging(for: path) } throws: { "\($0)".contains("is not a socket") }
        #expect(FileManager.default.fileExists(atPath: path + ".new"))
    }

    @Test func unknownGroupIsAClearError() throws {
        #expect { try UnixSocketPath.groupID(named: "no-such-group-haven") } throws: { "\($0)".contains("does not exist") }
    }
}
