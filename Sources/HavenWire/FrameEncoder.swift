import NIOCore

/// Writes frames as a 10-byte header followed by the data.
public struct FrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data frame: Frame, out: inout ByteBuffer) throws {
        Self.write(frame, into: &out)
    }

    public static func write(_ frame: Frame, into out: inout ByteBuffer) {
        out.reserveCapacity(minimumWritableBytes: FrameLimits.headerLength + frame.data.readableBytes)
        out.writeInteger(UInt32(frame.data.readableBytes))
        out.writeInteger(frame.streamID)
        out.writeInteger(frame.typeByte)
        out.writeInteger(frame.flags.rawValue)
        var data = frame.data
        out.writeBuffer(&data)
    }
}
