import HavenProto
import HavenWire
import Logging
import NIOCore

/// Sent down a connection's pipeline when the daemon begins shutting down.
struct DrainConnectionEvent: Sendable {}

/// One connection's ttrpc server state machine. It runs on the channel's
/// event loop and owns: frame decoding, stream-id rules, the table of calls in
/// flight, deadlines, per-connection limits, timeouts and read back-pressure.
/// Handlers run in their own tasks, so a slow call never blocks a fast one.
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct CallRecord {
        var task: Task<Void, Never>?
        var finished = false
        var streaming: Bool
        var deadlineTimer: Scheduled<Void>?
    }

    private enum Outcome: Sendable {
        case response([UInt8])
        case endOfStream
        case failure(RPCError)
    }

    private let dispatcher: any RPCDispatcher
    private let limits: ServerLimits
    private let peer: PeerCredentials?
    private let certificate: PresentedCertificate?
    private let connectionID: UInt64
    private var logger: Logger

    private let processor: NIOSingleStepByteToMessageProcessor<FrameDecoder>
    private var lastStreamID: UInt32 = 0
    private var calls: [UInt32: CallRecord] = [:]
    private var draining = false
    private var closing = false
    private var readPending = false
    /// Inside channelRead...channelReadComplete, answers written inline are
    /// flushed once at the end of the batch (one syscall for many answers).
    private var inReadBatch = false
    private var flushPending = false
    private var partialFrameTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var context: ChannelHandlerContext!
    /// Runs the tasks of calls that run on this connection's event loop.
    private var loopExecutor: EventLoopTaskExecutor!

    init(
        dispatcher: any RPCDispatcher, limits: ServerLimits, peer: PeerCredentials?, certificate: PresentedCertificate? = nil,
        connectionID: UInt64, logger: Logger
    ) {
        self.dispatcher = dispatcher
        self.limits = limits
        self.peer = peer
        self.certificate = certificate
        self.connectionID = connectionID
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(connectionID)"
        self.processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(maxDataLength: limits.maxFrameDataLength))
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loopExecutor = EventLoopTaskExecutor(context.eventLoop)
        lastActivity = context.eventLoop.now
        if context.channel.isActive { armIdleTimer() }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing = true
        partialFrameTimer?.cancel()
        idleTimer?.cancel()
        for (_, record) in calls {
            record.deadlineTimer?.cancel()
            record.task?.cancel()
        }
        calls.removeAll()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        inReadBatch = true
        lastActivity = context.eventLoop.now
        let bytes = unwrapInboundIn(data)
        do {
            try processor.process(buffer: bytes) { frame in
                if !closing { handle(frame) }
            }
        } catch let error as FrameDecodingError {
            fail(with: error)
            return
        } catch {
            close(reason: "unexpected decoding error: \(error)")
            return
        }
        updateTimers()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is DrainConnectionEvent {
            beginDraining()
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            // The client half-closed: it will send nothing more. Finish what
            // is in flight, then close.
            if processor.unprocessedBytes > 0 {
                fail(with: .truncated(bufferedBytes: processor.unprocessedBytes))
            } else {
                draining = true
                closeIfDrained()
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        close(reason: "\(error)")
    }

    // Back-pressure: a client that does not read its responses stops being read.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Frames

    private func handle(_ frame: Frame) {
        guard let type = frame.messageType else {
            reject(frame.streamID, .invalidArgument(
                "unknown message type 0x\(String(frame.typeByte, radix: 16)) on stream \(frame.streamID); "
                + "ttrpc 1.2 defines 1 (Request), 2 (Response) and 3 (Data)"))
            return
        }
        switch type {
        case .request:
            startCall(frame)
        case .response:
            reject(frame.streamID, .invalidArgument("clients may not send Response frames (stream \(frame.streamID))"))
        case .data:
            if calls[frame.streamID] == nil {
                reject(frame.streamID, .invalidArgument("Data frame for stream \(frame.streamID), which is not open"))
            }
            // Data on an open stream: no Haven method takes client-streamed
            // data, and a bare remote-closed frame is harmless, so ignore it.
        }
    }

    private func startCall(_ frame: Frame) {
        let id = frame.streamID
        guard Frame.isClientStreamID(id) else {
            reject(id, .invalidArgument("stream id \(id) is even; client-initiated streams use odd ids"))
            return
        }
        guard id > lastStreamID else {
            reject(id, .invalidArgument("stream id \(id) is not above the last one used (\(lastStreamID)); stream ids must increase"))
            return
        }
        lastStreamID = id
        guard !draining else {
            reject(id, .unavailable("havend is shutting down; reconnect when it is back"))
            return
        }
        guard calls.count < limits.maxConcurrentCallsPerConnection else {
            reject(id, .resourceExhausted(
                "too many calls in flight on this connection (limit \(limits.maxConcurrentCallsPerConnection)); wait for answers or open another connection"))
            return
        }
        let request: RequestHeader
        do {
            request = try RequestHeader.decode(frame.data)
        } catch {
            reject(id, .invalidArgument("stream \(id): the Request frame's data is not a valid ttrpc.Request message (\(error))"))
            return
        }
        guard !frame.flags.contains(.remoteOpen) else {
            reject(id, .unimplemented("\(request.service)/\(request.method): client-streaming calls are not supported; send the Request without the remote-open flag"))
            return
        }
        guard request.timeoutNano >= 0 else {
            reject(id, .invalidArgument("timeout_nano must not be negative (got \(request.timeoutNano))"))
            return
        }

        let route = dispatcher.route(service: request.service, method: request.method)
        if case .reject(let error) = route {
            reject(id, error)
            return
        }

        let deadline: ContinuousClock.Instant? = request.timeoutNano > 0
            ? ContinuousClock.now.advanced(by: .nanoseconds(request.timeoutNano)) : nil
        let call = ServerCall(
            streamID: id, service: request.service, method: request.method, payload: request.payload,
            metadata: Metadata(request.metadata), peer: peer, connectionID: connectionID, deadline: deadline,
            certificateFingerprint: certificate?.fingerprint, isRemote: certificate != nil)

        var record = CallRecord(streaming: { if case .serverStreaming = route { true } else { false } }())
        if case .unary(_, .immediateWhenPossible(let immediate)) = route {
            calls[id] = record
            do {
                if let answer = try immediate(call) {
                    finish(id, .response(answer))
                    return
                }
            } catch {
                finish(id, .failure(Self.status(for: error, call: call, logger: logger)))
                return
            }
        }
        if request.timeoutNano > 0 {
            let timeout = request.timeoutNano
            record.deadlineTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(timeout)) { [self] in
                self.expire(id, timeoutNano: timeout)
            }
        }
        calls[id] = record

        // Spawn first, then store: a handler that starts on the event loop may
        // finish (and touch `calls`) before spawn returns.
        let task = Self.spawn(route, call, NIOLoopBound(self, eventLoop: context.eventLoop), loopExecutor, logger)
        calls[id]?.task = task
    }

    /// Runs a call's handler in its own task; the outcome comes back to the
    /// event loop to be written.
    private static func spawn(
        _ route: RoutedMethod, _ call: ServerCall, _ this: NIOLoopBound<ServerConnectionHandler>,
        _ loopExecutor: EventLoopTaskExecutor, _ logger: Logger
    ) -> Task<Void, Never> {
        let loop = this.eventLoop
        let id = call.streamID
        switch route {
        case .unary(let handler, .task):
            return Task {
                let outcome = await runUnary(handler, call, logger)
                loop.execute { this.value.finish(id, outcome) }
            }
        case .unary(let handler, .onEventLoop), .unary(let handler, .immediateWhenPossible):
            return Task.immediate(executorPreference: loopExecutor) {
                let outcome = await runUnary(handler, call, logger)
                // On the loop, where the task started and resumed: answer now.
                if loop.inEventLoop {
                    this.value.finish(id, outcome)
                } else {
                    loop.execute { this.value.finish(id, outcome) }
                }
            }
        case .serverStreaming(let handler):
            let writer = ResponseStreamWriter { payload in
                try await loop.flatSubmit { this.value.writeStreamData(id, payload) }.get()
            }
            return Task {
                let outcome = await runStreaming(handler, call, writer, logger)
                loop.execute { this.value.finish(id, outcome) }
            }
        case .reject:
            preconditionFailure("rejected routes never reach spawn")
        }
    }

    private static func runUnary(
        _ handler: @Sendable (ServerCall) async throws -> [UInt8], _ call: ServerCall, _ logger: Logger
    ) async -> Outcome {
        do {
            return .response(try await handler(call))
        } catch {
            return .failure(status(for: error, call: call, logger: logger))
        }
    }

    private static func runStreaming(
        _ handler: @Sendable (ServerCall, ResponseStreamWriter) async throws -> Void, _ call: ServerCall,
        _ writer: ResponseStreamWriter, _ logger: Logger
    ) async -> Outcome {
        do {
            try await handler(call, writer)
            return .endOfStream
        } catch {
            return .failure(status(for: error, call: call, logger: logger))
        }
    }

    /// Maps what a handler threw to what the caller sees. Internal errors are
    /// logged in full but reported without detail: messages may hold data.
    private static func status(for error: Error, call: ServerCall, logger: Logger) -> RPCError {
        switch error {
        case let error as RPCError:
            return error
        case is CancellationError:
            return RPCError(.cancelled, "\(call.fullMethod) was cancelled")
        default:
            logger.error("handler failed", metadata: ["method": "\(call.fullMethod)", "error": "\(error)"])
            return RPCError(.internal, "\(call.fullMethod) failed inside havend; the daemon log has the details")
        }
    }

    // MARK: Completing calls

    private func writeStreamData(_ id: UInt32, _ payload: [UInt8]) -> EventLoopFuture<Void> {
        guard let record = calls[id], !record.finished, !closing else {
            return context.eventLoop.makeFailedFuture(CancellationError())
        }
        let frame = Envelope.dataFrame(streamID: id, payload: payload)
        guard frame.data.readableBytes <= limits.maxFrameDataLength else {
            return context.eventLoop.makeFailedFuture(RPCError.resourceExhausted(
                "a streamed message of \(payload.count) bytes is over the \(limits.maxFrameDataLength >> 20) MiB frame limit"))
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        write(frame, promise: promise)
        return promise.futureResult
    }

    private func finish(_ id: UInt32, _ outcome: Outcome) {
        guard var record = calls[id], !record.finished, !closing else { return }
        record.finished = true
        record.deadlineTimer?.cancel()
        record.deadlineTimer = nil
        calls[id] = record

        let frame: Frame
        switch outcome {
        case .response(let payload):
            // An answer over the frame limit would be refused by every client
            // (and by ttrpc): say so instead of sending it.
            let candidate = Envelope.responseFrame(streamID: id, result: .success(payload))
            frame = candidate.data.readableBytes <= limits.maxFrameDataLength ? candidate
                : Envelope.responseFrame(streamID: id, result: .failure(.resourceExhausted(
                    "the answer is \(candidate.data.readableBytes) bytes, over the \(limits.maxFrameDataLength >> 20) MiB frame limit; ask for less (a narrower filter, a shorter period or a page)")))
        case .endOfStream:
            frame = Envelope.endOfStreamFrame(streamID: id)
        case .failure(let error):
            frame = Envelope.responseFrame(streamID: id, result: .failure(error))
        }
        // The call stays counted until its last frame reaches the socket, so
        // the in-flight limit also bounds what a non-reading client can pile up.
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenComplete { [self] _ in
            self.calls[id] = nil
            self.lastActivity = self.context.eventLoop.now
            self.closeIfDrained()
        }
        write(frame, promise: promise)
    }

    private func expire(_ id: UInt32, timeoutNano: Int64) {
        guard let record = calls[id], !record.finished else { return }
        let seconds = Double(timeoutNano) / 1e9
        finish(id, .failure(RPCError(.deadlineExceeded, "the call's deadline (\(seconds)s) passed before havend finished it")))
        record.task?.cancel()
    }

    private func reject(_ id: UInt32, _ error: RPCError) {
        logger.debug("rejected frame", metadata: ["stream": "\(id)", "status": "\(error)"])
        write(Envelope.responseFrame(streamID: id, result: .failure(error)), promise: nil)
    }

    private func write(_ frame: Frame, promise: EventLoopPromise<Void>?) {
        var buffer = context.channel.allocator.buffer(capacity: FrameLimits.headerLength + frame.data.readableBytes)
        FrameEncoder.write(frame, into: &buffer)
        if inReadBatch {
            context.write(wrapOutboundOut(buffer), promise: promise)
            flushPending = true
        } else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: promise)
        }
    }

    // MARK: Shutdown, timeouts, failure

    private func beginDraining() {
        draining = true
        // Streams (event subscriptions) never end by themselves: end them now.
        for (id, record) in calls where record.streaming && !record.finished {
            finish(id, .failure(.unavailable("havend is shutting down; resubscribe when it is back")))
            record.task?.cancel()
        }
        closeIfDrained()
    }

    private func closeIfDrained() {
        if draining, calls.isEmpty { close(reason: nil) }
    }

    private func fail(with error: FrameDecodingError) {
        switch error {
        case .oversized(let streamID, _, _):
            logger.notice("closing connection", metadata: ["reason": "\(error)"])
            let promise = context.eventLoop.makePromise(of: Void.self)
            write(Envelope.responseFrame(streamID: streamID, result: .failure(.resourceExhausted("\(error)"))), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { [self] _ in self.close(reason: nil) }
            closing = true
        case .truncated:
            close(reason: "\(error)")
        }
    }

    private func close(reason: String?) {
        if let reason { logger.debug("closing connection", metadata: ["reason": "\(reason)"]) }
        closing = true
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.close(promise: nil)
    }

    private func updateTimers() {
        if processor.unprocessedBytes > 0 {
            if partialFrameTimer == nil {
                partialFrameTimer = context.eventLoop.assumeIsolated().scheduleTask(in: limits.partialFrameTimeout.timeAmount) { [self] in
                    self.close(reason: "a frame was started but not finished within \(self.limits.partialFrameTimeout)")
                }
            }
        } else {
            partialFrameTimer?.cancel()
            partialFrameTimer = nil
        }
    }

    /// The idle timer is armed once and re-arms itself for what remains,
    /// so a busy connection costs no timer churn per frame.
    private func armIdleTimer() {
        guard idleTimer == nil, !closing else { return }
        scheduleIdleCheck(in: limits.idleTimeout.timeAmount)
    }

    private func scheduleIdleCheck(in delay: TimeAmount) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            self.idleTimer = nil
            guard !self.closing else { return }
            let idleFor = self.context.eventLoop.now - self.lastActivity
            let limit = self.limits.idleTimeout.timeAmount
            if !self.calls.isEmpty || self.processor.unprocessedBytes > 0 {
                self.scheduleIdleCheck(in: limit)
            } else if idleFor >= limit {
                self.close(reason: "idle for \(self.limits.idleTimeout)")
            } else {
                self.scheduleIdleCheck(in: limit - idleFor)
            }
        }
    }
}
