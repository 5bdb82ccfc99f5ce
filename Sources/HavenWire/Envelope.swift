import Foundation
import HavenProto
import NIOCore
import SwiftProtobuf

/// Encoding and decoding of the ttrpc envelope messages carried in frames.
public enum Envelope {
    public static func decodeRequest(_ data: ByteBuffer) throws -> Ttrpc_Request {
        try Ttrpc_Request(serializedBytes: Array(data.readableBytesView))
    }

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
        var response = Ttrpc_Response()
        switch result {
        case .success(let payload):
            response.payload = Data(payload)
        case .failure(let error):
            response.status = error.status
        }
        // Encoding a message with only strings, ints and bytes cannot fail.
        let data = try! buffer(response)
        return Frame(streamID: streamID, type: .response, data: data)
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
