import Foundation
import HavenProto
import HavenWire
import NIOCore

/// Where the answer to one outgoing call goes.
enum Responder: Sendable {
    case unary(EventLoopPromise<[UInt8]>)
    case stream(AsyncThrowingStream<[UInt8], Error>.Continuation)

    func fail(_ error: Error) {
        switch self {
        case .unary(let promise): promise.fail(error)
        case .stream(let continuation): continuation.finish(throwing: error)
        }
    }
}

/// A call to send: the handler gives it the next odd stream id.
struct OutboundCall: Sendable {
    var request: Ttrpc_Request
    var flags: FrameFlags
    var responder: Responder
}

/// The client side of one connection: assigns stream ids, matches Response
/// and Data frames to the calls waiting for them, fails them all if the
/// connection drops.
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = OutboundCall
    typealias OutboundOut = ByteBuffer

    private let processor = NIOSingleStepByteToMessageProcessor(FrameDecoder())
    private var nextStreamID: UInt32 = 1
    private var pending: [UInt32: Responder] = [:]
    private var closedError: Error?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call = unwrapOutboundIn(data)
        if let closedError {
            call.responder.fail(closedError)
            promise?.fail(closedError)
            return
        }
        let id = nextStreamID
        nextStreamID &+= 2
        pending[id] = call.responder
        do {
            let body = try Envelope.buffer(call.request, allocator: context.channel.allocator)
            var out = context.channel.allocator.buffer(capacity: FrameLimits.headerLength + body.readableBytes)
            FrameEncoder.write(Frame(streamID: id, type: .request, flags: call.flags, data: body), into: &out)
            context.write(wrapOutboundOut(out), promise: promise)
        } catch {
            pending[id] = nil
            call.responder.fail(error)
            promise?.fail(error)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try processor.process(buffer: unwrapInboundIn(data)) { frame in handle(frame) }
        } catch {
            failAll(RPCError(.internal, "havend sent bytes that are not ttrpc frames: \(error)"))
            context.close(promise: nil)
        }
    }

    private func handle(_ frame: Frame) {
        guard let responder = pending[frame.streamID] else { return }
        switch frame.messageType {
        case .response:
            pending[frame.streamID] = nil
            let result: Result<[UInt8], RPCError>
            do {
                let response = try Envelope.decodeResponse(frame.data)
                if response.hasStatus, response.status.code != 0 {
                    result = .failure(RPCError(status: response.status))
                } else {
                    result = .success(Array(response.payload))
                }
            } catch {
                result = .failure(RPCError(.internal, "havend sent a Response that is not a ttrpc.Response: \(error)"))
            }
            switch (responder, result) {
            case (.unary(let promise), .success(let payload)): promise.succeed(payload)
            case (.unary(let promise), .failure(let error)): promise.fail(error)
            case (.stream(let continuation), .success(let payload)):
                // A server may end a stream with a final Response carrying a message.
                if !payload.isEmpty { continuation.yield(payload) }
                continuation.finish()
            case (.stream(let continuation), .failure(let error)): continuation.finish(throwing: error)
            }
        case .data:
            guard case .stream(let continuation) = responder else { return }
            if !frame.flags.contains(.noData) {
                continuation.yield(Array(frame.data.readableBytesView))
            }
            if frame.flags.contains(.remoteClosed) {
                pending[frame.streamID] = nil
                continuation.finish()
            }
        case .request, .none:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RPCError(.unavailable, "the connection to havend closed before it answered"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll(RPCError(.unavailable, "the connection to havend failed: \(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: Error) {
        closedError = error
        let waiting = pending
        pending.removeAll()
        for (_, responder) in waiting { responder.fail(error) }
    }
}
