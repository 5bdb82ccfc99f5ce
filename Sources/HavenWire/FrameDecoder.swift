import NIOCore

/// Why a byte stream could not be read as ttrpc frames. Each is fatal for
/// the connection: after it the stream position is unknown.
public enum FrameDecodingError: Error, Equatable, CustomStringConvertible {
    /// The header announced more data than the limit allows.
    case oversized(streamID: UInt32, length: UInt32, limit: Int)
    /// The peer closed the connection in the middle of a frame.
    case truncated(bufferedBytes: Int)

    public var description: String {
        switch self {
        case .oversized(let id, let length, let limit):
            "frame on stream \(id) announces \(length) bytes of data, over the \(limit)-byte limit"
        case .truncated(let n):
            "connection closed in the middle of a frame (\(n) bytes of an unfinished frame)"
        }
    }
}

/// Splits a byte stream into frames. It checks only what the framing layer
/// can know (length limit, completeness); stream ids and types are judged by
/// the connection handler, which can answer on the offending stream.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    public let maxDataLength: Int

    public init(maxDataLength: Int = FrameLimits.maxDataLength) {
        self.maxDataLength = maxDataLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        guard buffer.readableBytes >= FrameLimits.headerLength,
              let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
              let streamID = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self),
              let type = buffer.getInteger(at: buffer.readerIndex + 8, as: UInt8.self),
              let flags = buffer.getInteger(at: buffer.readerIndex + 9, as: UInt8.self)
        else { return nil }

        // Refuse before buffering: a peer must not make us hold 4 GiB.
        guard length <= maxDataLength else {
            throw FrameDecodingError.oversized(streamID: streamID, length: length, limit: maxDataLength)
        }
        guard buffer.readableBytes >= FrameLimits.headerLength + Int(length) else { return nil }

        buffer.moveReaderIndex(forwardBy: FrameLimits.headerLength)
        let data = buffer.readSlice(length: Int(length))!
        return Frame(streamID: streamID, typeByte: type, flags: FrameFlags(rawValue: flags), data: data)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if buffer.readableBytes > 0 { throw FrameDecodingError.truncated(bufferedBytes: buffer.readableBytes) }
        return nil
    }
}
