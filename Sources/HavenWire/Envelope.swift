import Foundation
import HavenProto
import NIOCore
import SwiftProtobuf

/// Encoding and decoding of the ttrpc envelope messages carried in frames.
public enum Envelope {
    public static func decodeResponse(_ data: ByteBuffer) throws -> Ttrpc_Response {
        try Ttrpc_Response(serializedBytes: Array(data.readableBytesView))
    }

    public static func buffer(_ message: some SwiftProtobuf.Message, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws -> ByteBuffer {
        let bytes: [UInt8] = try message.serializedBytes()
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    /// A Response frame carrying an OK status and `payload`, or an error status.
    public static func responseFrame(streamID: UInt32, result: Result<[UInt8], RPCError>) -> Frame {
        switch result {
        case .success(let payload):
            return Frame(streamID: streamID, type: .response, data: successResponse(payload))
        case .failure(let error):
            var response = Ttrpc_Response()
            response.status = error.status
            // Encoding a message with only strings, ints and bytes cannot fail.
            return Frame(streamID: streamID, type: .response, data: try! buffer(response))
        }
    }

    /// A ttrpc.Response with an OK status and `payload`, encoded straight
    /// into one buffer: every successful call ends here, and building the
    /// message first cost two copies of the payload and three allocations.
    /// The bytes are exactly SwiftProtobuf's: an OK status is the default and
    /// is omitted, the payload is field 2 (length-delimited), omitted when
    /// empty.
    static func successResponse(_ payload: [UInt8]) -> ByteBuffer {
        guard !payload.isEmpty else { return ByteBuffer() }
        var buffer = ByteBufferAllocator().buffer(capacity: payload.count + 11)
        buffer.writeInteger(UInt8(2 << 3 | 2))
        var length = UInt64(payload.count)
        while length >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        buffer.writeInteger(UInt8(length))
        buffer.writeBytes(payload)
        return buffer
    }

    /// A Data frame carrying one streamed message.
    public static func dataFrame(streamID: UInt32, payload: [UInt8], flags: FrameFlags = []) -> Frame {
        var buffer = ByteBufferAllocator().buffer(capacity: payload.count)
        buffer.writeBytes(payload)
        return Frame(streamID: streamID, type: .data, flags: flags, data: buffer)
    }

    /// The Data frame that ends a server stream successfully, as containerd's
    /// ttrpc sends it: remote-closed with no data.
    public static func endOfStreamFrame(streamID: UInt32) -> Frame {
        Frame(streamID: streamID, type: .data, flags: [.remoteClosed, .noData], data: ByteBuffer())
    }
}
