#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Why the daemon cannot listen at a socket path.
public struct SocketSetupError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Prepares a Unix-socket path for listening and sets its permissions.
///
/// - The socket's directory is created if missing, mode 0770 and owned by the
///   socket group; an existing directory (such as a shared /tmp) is left as it is.
/// - A socket file nobody is listening on (left by a crash) is replaced; a
///   live one means another daemon is running, which is an error.
public enum UnixSocketPath {
    /// sun_path holds 108 bytes: a path of 107 and the terminating NUL.
    public static let sunPathBytes = 107
    /// The socket is bound as its path plus this, then linked at its path
    /// (`removeStaleStaging`, `moveIntoPlace`).
    static let stagingSuffix = ".new"
    /// The longest socket path: its staging name must fit in sun_path too.
    public static let maxPathBytes = sunPathBytes - stagingSuffix.utf8.count

    public static func prepare(_ path: String, group: gid_t?, logger: Logger) throws {
        try checkLength(path)
        let directory = parentDirectory(of: path)
        var info = stat()
        if stat(directory, &info) != 0 {
            try createDirectory(directory, group: group)
            logger.info("created socket directory", metadata: ["path": "\(directory)", "mode": "0770"])
        } else if info.st_mode & S_IFMT != S_IFDIR {
            throw SocketSetupError("\(directory) exists and is not a directory")
        }

        if try removeIfStale(path, notASocket: "remove it or choose another --socket", listening: alreadyListening(path)) {
            logger.notice("replaced a stale socket left by an earlier daemon", metadata: ["path": "\(path)"])
        }
    }

    private static func checkLength(_ path: String) throws {
        guard path.utf8.count <= maxPathBytes else {
            throw SocketSetupError("socket path \(path) is \(path.utf8.count) bytes; it can be at most \(maxPathBytes) (Unix sockets allow \(sunPathBytes), and havend binds the socket as \(stagingSuffix) beside it first)")
        }
    }

    static func alreadyListening(_ path: String) -> String {
        "another havend is already listening on \(path); stop it first, or start this one with another --socket"
    }

    /// Removes the socket file at `socket` when nobody listens on it (a
    /// daemon that crashed) and returns true; returns false when there is
    /// nothing there. Anything but a socket there, and a socket someone
    /// listens on, are errors (`notASocket` says what to do; `listening` is
    /// the message), and are left as they are.
    private static func removeIfStale(_ socket: String, notASocket: String, listening: String) throws -> Bool {
        var info = stat()
        guard lstat(socket, &info) == 0 else { return false }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SocketSetupError("\(socket) exists and is not a socket; \(notASocket)")
        }
        switch probe(socket) {
        case .listening:
            throw SocketSetupError(listening)
        case .stale:
            guard unlink(socket) == 0 || errno == ENOENT else {
                throw SocketSetupError("could not remove the stale socket \(socket): \(errnoDescription())")
            }
            return true
        case .inaccessible(let reason):
            throw SocketSetupError("could not check whether \(socket) is in use: \(reason)")
        }
    }

    /// Where the socket is bound before it is linked at `path`
    /// (`RPCServer.start`): the same directory. One left by a crash between
    /// the bind and the link is removed; one that is listening belongs to a
    /// daemon starting on the same path now, and this one stops.
    public static func removeStaleStaging(for path: String) throws -> String {
        try checkLength(path)
        let staging = path + stagingSuffix
        _ = try removeIfStale(staging, notASocket: "remove it (havend binds its socket there before moving it to \(path))",
                              listening: "another havend is starting on \(path) (its socket \(staging) is listening); stop it first, or start this one with another --socket")
        return staging
    }

    /// Gives the bound socket its final name: a hard link, which (unlike a
    /// rename) never replaces what is there, so a daemon that started on
    /// the same path meanwhile keeps its socket and this one stops. A stale
    /// socket there (a crash since `prepare`) is replaced.
    public static func moveIntoPlace(_ staging: String, _ path: String) throws {
        for attempt in 0..<2 {
            if link(staging, path) == 0 {
                unlink(staging)
                return
            }
            guard errno == EEXIST, attempt == 0 else { break }
            // Whatever appeared since `prepare`: a stale socket is replaced,
            // anything else left alone.
            _ = try removeIfStale(path, notASocket: "remove it or choose another --socket", listening: alreadyListening(path))
        }
        throw SocketSetupError("could not move the socket \(staging) to \(path): \(errnoDescription())")
    }

    /// After bind: socket mode 0660, group-owned, so members of the socket
    /// group (and only they) can connect.
    public static func applyPermissions(_ path: String, group: gid_t?) throws {
        guard chmod(path, 0o660) == 0 else {
            throw SocketSetupError("could not set mode 0660 on \(path): \(errnoDescription())")
        }
        if let group, chown(path, uid_t.max, group) != 0 {
            throw SocketSetupError("could not give \(path) to group \(group): \(errnoDescription())")
        }
    }

    /// Looks up a group by name, for the `socket_group` setting.
    public static func groupID(named name: String) throws -> gid_t {
        guard let entry = getgrnam(name) else {
            throw SocketSetupError("socket group '\(name)' does not exist; create it (groupadd \(name)) or set another socket_group")
        }
        return entry.pointee.gr_gid
    }

    enum ProbeResult: Equatable {
        case listening
        case stale
        case inaccessible(String)
    }

    static func probe(_ path: String) -> ProbeResult {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .inaccessible(errnoDescription()) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result == 0 { return .listening }
        switch errno {
        case ECONNREFUSED, ENOENT: return .stale
        default: return .inaccessible(errnoDescription())
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    private static func createDirectory(_ directory: String, group: gid_t?) throws {
        let parent = parentDirectory(of: directory)
        var info = stat()
        if parent != directory, stat(parent, &info) != 0 {
            // Intermediate directories get ordinary permissions; only the
            // socket's own directory is restricted.
            try createIntermediate(parent)
        }
        guard mkdir(directory, 0o770) == 0 || errno == EEXIST else {
            throw SocketSetupError("could not create socket directory \(directory): \(errnoDescription())")
        }
        // mkdir applies the umask; set the mode explicitly.
        guard chmod(directory, 0o770) == 0 else {
            throw SocketSetupError("could not set mode 0770 on \(directory): \(errnoDescription())")
        }
        if let group, chown(directory, uid_t.max, group) != 0 {
            throw SocketSetupError("could not give \(directory) to group \(group): \(errnoDescription())")
        }
    }

    private static func createIntermediate(_ directory: String) throws {
        let parent = parentDirectory(of: directory)
        var info = stat()
        if parent != directory, stat(parent, &info) != 0 { try createIntermediate(parent) }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw SocketSetupError("could not create directory \(directory): \(errnoDescription())")
        }
    }
}

func errnoDescription() -> String {
    String(cString: strerror(errno))
}
