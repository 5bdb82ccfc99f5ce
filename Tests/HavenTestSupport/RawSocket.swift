#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A blocking Unix-socket connection that sends and receives raw bytes,
/// for tests that must send what no well-behaved client would.
public final class RawSocket: @unchecked Sendable {
    public let fd: Int32

    public init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8).prefix(raw.count - 1))
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw TestFailure("connect(\(path)) failed: \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Reads exactly `count` bytes, or returns what arrived before EOF.
    public func receive(_ count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: max(count, 1))
        while result.count < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - result.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw TestFailure("recv failed: \(String(cString: strerror(errno)))") }
            result += buffer[0..<n]
        }
        return result
    }

    /// Whether the peer has closed the connection (a read returns EOF).
    public func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    deinit { close(fd) }
}

/// Builds a ttrpc frame: 10-byte header, then data.
public func ttrpcFrame(streamID: UInt32, type: UInt8, flags: UInt8 = 0, data: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    let length = UInt32(data.count)
    bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
    bytes += [UInt8(streamID >> 24), UInt8(streamID >> 16 & 0xFF), UInt8(streamID >> 8 & 0xFF), UInt8(streamID & 0xFF)]
    bytes += [type, flags]
    return bytes + data
}

/// Reads one frame: (stream id, type, flags, data).
public func readFrame(_ socket: RawSocket) throws -> (streamID: UInt32, type: UInt8, flags: UInt8, data: [UInt8])? {
    let header = try socket.receive(10)
    guard header.count == 10 else { return nil }
    let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
    let stream = UInt32(header[4]) << 24 | UInt32(header[5]) << 16 | UInt32(header[6]) << 8 | UInt32(header[7])
    let data = try socket.receive(length)
    return (stream, header[8], header[9], data)
}
