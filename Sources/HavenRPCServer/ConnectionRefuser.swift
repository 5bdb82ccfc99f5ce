import HavenWire
import NIOCore

/// Stands in for a connection's handler when the daemon already holds its
/// maximum: it waits for the first frame header, answers that stream with
/// RESOURCE_EXHAUSTED (so a client learns why, rather than seeing a bare
/// close), and closes. A client that sends nothing is closed after
/// `timeout`. It holds at most one header's bytes.
final class ConnectionRefuser: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let message: String
    private let timeout: TimeAmount
    private var header = ByteBuffer()
    private var answered = false

    init(message: String, timeout: TimeAmount) {
        self.message = message
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var bytes = unwrapInboundIn(data)
        if let more = bytes.readSlice(length: min(bytes.readableBytes, FrameLimits.headerLength - header.readableBytes)) {
            header.writeImmutableBuffer(more)
        }
        guard header.readableBytes >= FrameLimits.headerLength, let streamID = header.getInteger(at: header.readerIndex + 4, as: UInt32.self) else {
            return
        }
        answered = true
        var out = context.channel.allocator.buffer(capacity: 128)
        FrameEncoder.write(Envelope.responseFrame(streamID: streamID, result: .failure(.resourceExhausted(message))), into: &out)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }
}
