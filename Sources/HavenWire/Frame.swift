import NIOCore

/// One ttrpc message frame: a 10-byte header and its data.
///
///     +----------------+----------------+--------+--------+---------------+
///     | length u32 BE  | stream id u32 BE | type u8 | flags u8 | data (length) |
///     +----------------+----------------+--------+--------+---------------+
///
/// See Docs/protocol.md and containerd/ttrpc's PROTOCOL.md (version 1.2).
public struct Frame: Sendable, Equatable {
    public var streamID: UInt32
    /// The raw type byte; `messageType` is nil for a type this version does not know.
    public var typeByte: UInt8
    public var flags: FrameFlags
    public var data: ByteBuffer

    public init(streamID: UInt32, type: MessageType, flags: FrameFlags = [], data: ByteBuffer) {
        self.init(streamID: streamID, typeByte: type.rawValue, flags: flags, data: data)
    }

    public init(streamID: UInt32, typeByte: UInt8, flags: FrameFlags, data: ByteBuffer) {
        self.streamID = streamID
        self.typeByte = typeByte
        self.flags = flags
        self.data = data
    }

    public var messageType: MessageType? { MessageType(rawValue: typeByte) }
}

public enum FrameLimits {
    /// The fixed header size.
    public static let headerLength = 10
    /// ttrpc's maximum data length (4 MiB). Larger frames are refused with
    /// RESOURCE_EXHAUSTED and the connection is closed.
    public static let maxDataLength = 4 << 20
}

public enum MessageType: UInt8, Sendable, CustomStringConvertible {
    case request = 1
    case response = 2
    case data = 3

    public var description: String {
        switch self {
        case .request: "Request"
        case .response: "Response"
        case .data: "Data"
        }
    }
}

public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The sender will send no more data on this stream.
    public static let remoteClosed = FrameFlags(rawValue: 0x01)
    /// On a Request: the sender will stream more data (client streaming).
    public static let remoteOpen = FrameFlags(rawValue: 0x02)
    /// On a Data frame: the frame carries no message (containerd's ttrpc sets
    /// this with remoteClosed to end a server stream successfully).
    public static let noData = FrameFlags(rawValue: 0x04)
}

extension Frame {
    /// Whether a client-initiated stream id is valid: ttrpc reserves even ids
    /// (and 0) for server-initiated streams.
    public static func isClientStreamID(_ id: UInt32) -> Bool { id & 1 == 1 }
}
