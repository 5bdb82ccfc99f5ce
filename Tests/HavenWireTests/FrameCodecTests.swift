import Foundation
import HavenProto
import HavenWire
import NIOCore
import NIOEmbedded
import Testing

/// The frame codec, byte by byte, against the layout in Docs/protocol.md and
/// containerd/ttrpc's PROTOCOL.md.
@Suite struct FrameCodecTests {
    func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    @Test func encodesTheTenByteHeaderBigEndian() throws {
        let frame = Frame(streamID: 0x0102_0305, type: .request, flags: [.remoteClosed], data: buffer([0xAA, 0xBB, 0xCC]))
        var out = ByteBuffer()
        FrameEncoder.write(frame, into: &out)
        #expect(Array(out.readableBytesView) == [
            0x00, 0x00, 0x00, 0x03,  // data length
            0x01, 0x02, 0x03, 0x05,  // stream id
            0x01,                    // type: Request
            0x01,                    // flags: remote closed
            0xAA, 0xBB, 0xCC,
        ])
    }

    @Test func decodesAFrameDeliveredOneByteAtATime() throws {
        let bytes: [UInt8] = [0, 0, 0, 2, 0, 0, 0, 7, 2, 0, 0x08, 0x01]
        var decoder = FrameDecoder()
        var accumulated = ByteBuffer()
        var frames: [Frame] = []
        for byte in bytes {
            accumulated.writeInteger(byte)
            if let frame = try decoder.decode(buffer: &accumulated) { frames.append(frame) }
        }
        #expect(frames.count == 1)
        let frame = try #require(frames.first)
        #expect(frame.streamID == 7)
        #expect(frame.messageType == .response)
        #expect(frame.flags == [])
        #expect(Array(frame.data.readableBytesView) == [0x08, 0x01])
        #expect(accumulated.readableBytes == 0)
    }

    @Test func decodesSeveralFramesFromOneRead() throws {
        var input = ByteBuffer()
        for id: UInt32 in [1, 3, 5] {
            FrameEncoder.write(Frame(streamID: id, type: .data, flags: [], data: buffer([UInt8(id)])), into: &input)
        }
        var decoder = FrameDecoder()
        var ids: [UInt32] = []
        while let frame = try decoder.decode(buffer: &input) { ids.append(frame.streamID) }
        #expect(ids == [1, 3, 5])
    }

    @Test func emptyDataIsAValidFrame() throws {
        var input = buffer([0, 0, 0, 0, 0, 0, 0, 9, 3, 5])
        var decoder = FrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &input))
        #expect(frame.data.readableBytes == 0)
        #expect(frame.flags == [.remoteClosed, .noData])
    }

    @Test func unknownTypesAndFlagsPassThroughForTheConnectionToJudge() throws {
        var input = buffer([0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0xF0])
        var decoder = FrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &input))
        #expect(frame.messageType == nil)
        #expect(frame.typeByte == 0x7F)
        #expect(frame.flags.rawValue == 0xF0)
    }

    @Test func exactlyFourMebibytesIsAccepted() throws {
        let limit = FrameLimits.maxDataLength
        var input = ByteBuffer()
        input.writeInteger(UInt32(limit))
        input.writeInteger(UInt32(1))
        input.writeBytes([1, 0])
        input.writeRepeatingByte(0x61, count: limit)
        var decoder = FrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &input))
        #expect(frame.data.readableBytes == limit)
    }

    @Test func overFourMebibytesIsRefusedFromTheHeaderAlone() throws {
        // Only the header is present: the decoder must refuse without waiting
        // for (or buffering) the announced data.
        var input = buffer([0x00, 0x40, 0x00, 0x01, 0, 0, 0, 11, 1, 0])
        var decoder = FrameDecoder()
        #expect(throws: FrameDecodingError.oversized(streamID: 11, length: (4 << 20) + 1, limit: 4 << 20)) {
            _ = try decoder.decode(buffer: &input)
        }
    }

    @Test func aReservedFirstByteMeansOversized() throws {
        var input = buffer([0xFF, 0, 0, 0, 0, 0, 0, 1, 1, 0])
        var decoder = FrameDecoder()
        #expect(throws: FrameDecodingError.self) { _ = try decoder.decode(buffer: &input) }
    }

    @Test func aHalfHeaderWaitsForMoreBytes() throws {
        var input = buffer([0, 0, 0, 5, 0, 0])
        var decoder = FrameDecoder()
        #expect(try decoder.decode(buffer: &input) == nil)
        #expect(input.readableBytes == 6)
    }

    @Test func truncatedAtEndOfStreamIsAnError() throws {
        var input = buffer([0, 0, 0, 5, 0, 0, 0, 1, 1, 0, 0xAA])
        var decoder = FrameDecoder()
        #expect(throws: FrameDecodingError.truncated(bufferedBytes: 11)) {
            _ = try decoder.decodeLast(buffer: &input, seenEOF: true)
        }
    }

    @Test func cleanEndOfStreamIsNotAnError() throws {
        var input = ByteBuffer()
        var decoder = FrameDecoder()
        #expect(try decoder.decodeLast(buffer: &input, seenEOF: true) == nil)
    }

    @Test func worksAsAPipelineHandler() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
        var input = ByteBuffer()
        FrameEncoder.write(Frame(streamID: 1, type: .request, data: buffer([1, 2, 3])), into: &input)
        try channel.writeInbound(input)
        let frame = try #require(try channel.readInbound(as: Frame.self))
        #expect(frame.streamID == 1)
        #expect(Array(frame.data.readableBytesView) == [1, 2, 3])
        #expect(try channel.finish().isClean)
    }

    @Test func clientStreamIDsAreOdd() {
        #expect(Frame.isClientStreamID(1))
        #expect(Frame.isClientStreamID(0xFFFF_FFFF))
        #expect(!Frame.isClientStreamID(0))
        #expect(!Frame.isClientStreamID(2))
    }

    @Test func statusCodesAreGRPCs() {
        #expect(StatusCode.allCases.count == 17)
        #expect(StatusCode.resourceExhausted.rawValue == 8)
        #expect(StatusCode.unimplemented.name == "UNIMPLEMENTED")
        #expect(StatusCode.unauthenticated.rawValue == 16)
    }

    @Test func envelopesRoundTrip() throws {
        let frame = Envelope.responseFrame(streamID: 3, result: .failure(.notFound("no such student")))
        let response = try Envelope.decodeResponse(frame.data)
        #expect(response.status.code == 5)
        #expect(response.status.message == "no such student")
        let end = Envelope.endOfStreamFrame(streamID: 3)
        #expect(end.messageType == .data)
        #expect(end.flags == [.remoteClosed, .noData])
    }

    /// The hand-encoded OK response is byte for byte what SwiftProtobuf
    /// writes, at every length where the varint length prefix changes size.
    @Test(arguments: [0, 1, 127, 128, 300, 16_383, 16_384, 2_097_152])
    func successResponsesAreEncodedExactlyAsSwiftProtobufWould(length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let frame = Envelope.responseFrame(streamID: 5, result: .success(payload))
        var reference = Ttrpc_Response()
        reference.payload = Data(payload)
        let expected: [UInt8] = try reference.serializedBytes()
        #expect(Array(frame.data.readableBytesView) == expected)
        #expect(frame.messageType == .response)
        #expect(try Envelope.decodeResponse(frame.data).payload == Data(payload))
    }
}
