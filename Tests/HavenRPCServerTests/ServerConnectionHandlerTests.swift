import Foundation
import HavenProto
@testable import HavenRPCServer
import HavenWire
import NIOCore
import NIOEmbedded
import SwiftProtobuf
import Testing

/// One connection's state machine, driven frame by frame on a testing event
/// loop whose clock the test controls.
struct ServerHarness {
    let channel: NIOAsyncTestingChannel
    let loop: NIOAsyncTestingEventLoop

    static func make(limits: ServerLimits = ServerLimits()) async throws -> ServerHarness {
        let loop = NIOAsyncTestingEventLoop()
        let channel = try await NIOAsyncTestingChannel(loop: loop) { channel in
            try channel.pipeline.syncOperations.addHandler(ServerConnectionHandler(
                dispatcher: TestDispatcher(), limits: limits,
                peer: PeerCredentials(pid: 42, uid: 1000, gid: 1000), connectionID: 1, logger: .init(label: "test")))
        }
        try await channel.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/unused")).get()
        return ServerHarness(channel: channel, loop: loop)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    func request(_ id: UInt32, _ method: String, payload: [UInt8] = [], flags: UInt8 = 0, timeoutNano: Int64 = 0, service: String = "test.Echo") async throws {
        var request = Ttrpc_Request()
        request.service = service
        request.method = method
        request.payload = Data(payload)
        request.timeoutNano = timeoutNano
        try await send(ttrpcFrameBytes(id, 1, flags, try request.serializedBytes()))
    }

    /// The next frame the server writes.
    func nextFrame() async throws -> Frame {
        var buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
        var decoder = FrameDecoder()
        return try #require(try decoder.decode(buffer: &buffer))
    }

    func nextResponse() async throws -> (streamID: UInt32, response: Ttrpc_Response) {
        let frame = try await nextFrame()
        #expect(frame.messageType == .response)
        return (frame.streamID, try Envelope.decodeResponse(frame.data))
    }
}

func ttrpcFrameBytes(_ id: UInt32, _ type: UInt8, _ flags: UInt8, _ data: [UInt8]) -> [UInt8] {
    var out = ByteBuffer()
    FrameEncoder.write(Frame(streamID: id, typeByte: type, flags: FrameFlags(rawValue: flags), data: ByteBuffer(bytes: data)), into: &out)
    return Array(out.readableBytesView)
}

@Suite struct ServerConnectionHandlerTests {
    @Test func answersAUnaryCallOnItsStream() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Echo", payload: [9, 8, 7])
        let (id, response) = try await server.nextResponse()
        #expect(id == 1)
        #expect(!response.hasStatus || response.status.code == 0)
        #expect(Array(response.payload) == [9, 8, 7])
    }

    @Test func anImmediateAnswerIsSentAndAnUnreadyOneFallsBackToTheHandler() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Immediate", payload: [1])
        let (first, immediate) = try await server.nextResponse()
        #expect(first == 1)
        #expect(String(decoding: immediate.payload, as: UTF8.self) == "immediate")
        try await server.request(3, "Immediate", payload: [0])
        let (second, fallback) = try await server.nextResponse()
        #expect(second == 3)
        #expect(Array(fallback.payload) == Array("async".utf8) + [0])
        try await server.request(5, "Immediate", payload: [2])
        let (third, refused) = try await server.nextResponse()
        #expect(third == 5)
        #expect(refused.status.code == StatusCode.failedPrecondition.rawValue)
        #expect(refused.status.message == "refused at once")
    }

    @Test func carriesThePeerCredentialsWithTheCall() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Peer")
        let (_, response) = try await server.nextResponse()
        #expect(String(decoding: response.payload, as: UTF8.self) == "1000")
    }

    @Test func handlerErrorsBecomeTheirStatus() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Fail")
        let (_, response) = try await server.nextResponse()
        #expect(response.status.code == StatusCode.notFound.rawValue)
        #expect(response.status.message == "no such thing")
    }

    @Test func unexpectedErrorsAreInternalWithoutDetail() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Crash")
        let (_, response) = try await server.nextResponse()
        #expect(response.status.code == StatusCode.internal.rawValue)
        #expect(response.status.message.contains("test.Echo/Crash"))
        #expect(!response.status.message.contains("UnexpectedFailure"))
    }

    @Test func unknownMethodIsUnimplemented() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Nope")
        #expect(try await server.nextResponse().response.status.code == StatusCode.unimplemented.rawValue)
        try await server.request(3, "Echo", service: "test.Other")
        #expect(try await server.nextResponse().response.status.code == StatusCode.unimplemented.rawValue)
    }

    @Test func evenStreamIDsAreRefusedAndTheConnectionLives() async throws {
        let server = try await ServerHarness.make()
        try await server.request(2, "Echo")
        let (id, response) = try await server.nextResponse()
        #expect(id == 2)
        #expect(response.status.code == StatusCode.invalidArgument.rawValue)
        #expect(response.status.message.contains("odd"))
        try await server.request(3, "Echo", payload: [1])
        #expect(Array(try await server.nextResponse().response.payload) == [1])
    }

    @Test func streamIDsMustIncrease() async throws {
        let server = try await ServerHarness.make()
        try await server.request(5, "Echo")
        _ = try await server.nextResponse()
        try await server.request(3, "Echo")
        let (id, response) = try await server.nextResponse()
        #expect(id == 3)
        #expect(response.status.code == StatusCode.invalidArgument.rawValue)
        #expect(response.status.message.contains("increase"))
    }

    @Test func unknownMessageTypeGetsAClearStatus() async throws {
        let server = try await ServerHarness.make()
        try await server.send(ttrpcFrameBytes(1, 9, 0, []))
        let (_, response) = try await server.nextResponse()
        #expect(response.status.code == StatusCode.invalidArgument.rawValue)
        #expect(response.status.message.contains("unknown message type 0x9"))
    }

    @Test func responseFramesFromTheClientAreRefused() async throws {
        let server = try await ServerHarness.make()
        try await server.send(ttrpcFrameBytes(1, 2, 0, []))
        #expect(try await server.nextResponse().response.status.code == StatusCode.invalidArgument.rawValue)
    }

    @Test func dataForAStreamThatIsNotOpenIsRefused() async throws {
        let server = try await ServerHarness.make()
        try await server.send(ttrpcFrameBytes(7, 3, 0, [1, 2]))
        let (id, response) = try await server.nextResponse()
        #expect(id == 7)
        #expect(response.status.message.contains("not open"))
    }

    @Test func garbageRequestDataIsInvalidArgument() async throws {
        let server = try await ServerHarness.make()
        try await server.send(ttrpcFrameBytes(1, 1, 0, [0xFF, 0xFF, 0xFF, 0xFF]))
        let (_, response) = try await server.nextResponse()
        #expect(response.status.code == StatusCode.invalidArgument.rawValue)
        #expect(response.status.message.contains("ttrpc.Request"))
        try await server.request(3, "Echo", payload: [4])
        #expect(Array(try await server.nextResponse().response.payload) == [4])
    }

    @Test func clientStreamingIsUnimplemented() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Echo", flags: 0x02)
        #expect(try await server.nextResponse().response.status.code == StatusCode.unimplemented.rawValue)
    }

    @Test func negativeTimeoutIsInvalid() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Echo", timeoutNano: -5)
        #expect(try await server.nextResponse().response.status.code == StatusCode.invalidArgument.rawValue)
    }

    @Test func oversizedFrameGetsResourceExhaustedThenClose() async throws {
        let server = try await ServerHarness.make()
        try await server.send([0x00, 0x40, 0x00, 0x01, 0, 0, 0, 3, 1, 0])
        let (id, response) = try await server.nextResponse()
        #expect(id == 3)
        #expect(response.status.code == StatusCode.resourceExhausted.rawValue)
        try await server.channel.closeFuture.get()
        #expect(!server.channel.isActive)
    }

    @Test func anAnswerOverTheFrameLimitBecomesResourceExhausted() async throws {
        let server = try await ServerHarness.make(limits: ServerLimits(maxFrameDataLength: 1024))
        try await server.request(1, "Double", payload: Array(repeating: 7, count: 800))
        let (id, response) = try await server.nextResponse()
        #expect(id == 1)
        #expect(response.status.code == StatusCode.resourceExhausted.rawValue)
        #expect(response.status.message.contains("over the"))
        try await server.request(3, "StreamDouble", payload: Array(repeating: 7, count: 800))
        let (streamID, streamed) = try await server.nextResponse()
        #expect(streamID == 3)
        #expect(streamed.status.code == StatusCode.resourceExhausted.rawValue)
        // The connection carries on.
        try await server.request(5, "Echo", payload: [1])
        #expect(Array(try await server.nextResponse().response.payload) == [1])
    }

    @Test func halfSentFrameTimesOut() async throws {
        let server = try await ServerHarness.make(limits: ServerLimits(partialFrameTimeout: .seconds(5)))
        try await server.send([0, 0, 0, 20, 0, 0, 0, 1, 1, 0, 1, 2])
        await server.loop.advanceTime(by: .seconds(4))
        #expect(server.channel.isActive)
        await server.loop.advanceTime(by: .seconds(2))
        try await server.channel.closeFuture.get()
    }

    @Test func idleConnectionTimesOut() async throws {
        let server = try await ServerHarness.make(limits: ServerLimits(idleTimeout: .seconds(60)))
        await server.loop.advanceTime(by: .seconds(30))
        try await server.request(1, "Echo")
        _ = try await server.nextResponse()
        await server.loop.advanceTime(by: .seconds(59))
        #expect(server.channel.isActive, "activity must restart the idle clock")
        await server.loop.advanceTime(by: .seconds(2))
        try await server.channel.closeFuture.get()
    }

    @Test func deadlineCancelsTheHandlerAndAnswersDeadlineExceeded() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Hang", timeoutNano: 1_500_000_000)
        await server.loop.advanceTime(by: .seconds(2))
        let (id, response) = try await server.nextResponse()
        #expect(id == 1)
        #expect(response.status.code == StatusCode.deadlineExceeded.rawValue)
        // The connection still serves.
        try await server.request(3, "Echo", payload: [1])
        let next = try await server.nextResponse()
        #expect(next.streamID == 3)
        #expect(Array(next.response.payload) == [1])
    }

    @Test func concurrencyLimitRefusesWithResourceExhausted() async throws {
        let server = try await ServerHarness.make(limits: ServerLimits(maxConcurrentCallsPerConnection: 2))
        try await server.request(1, "Hang")
        try await server.request(3, "Hang")
        try await server.request(5, "Echo")
        let (id, response) = try await server.nextResponse()
        #expect(id == 5)
        #expect(response.status.code == StatusCode.resourceExhausted.rawValue)
        #expect(response.status.message.contains("limit 2"))
    }

    @Test func serverStreamSendsDataFramesThenEndsLikeContainerd() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Count", payload: [3], flags: 0x01)
        for i in 0..<3 {
            let frame = try await server.nextFrame()
            #expect(frame.messageType == .data)
            #expect(frame.streamID == 1)
            #expect(frame.flags == [])
            #expect(Array(frame.data.readableBytesView) == [UInt8(i)])
        }
        let end = try await server.nextFrame()
        #expect(end.messageType == .data)
        #expect(end.flags == [.remoteClosed, .noData])
        #expect(end.data.readableBytes == 0)
    }

    @Test func serverStreamErrorEndsWithAResponse() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "CountThenFail", flags: 0x01)
        #expect(try await server.nextFrame().messageType == .data)
        let (_, response) = try await server.nextResponse()
        #expect(response.status.code == StatusCode.failedPrecondition.rawValue)
    }

    @Test func drainingEndsStreamsAndRefusesNewCalls() async throws {
        let server = try await ServerHarness.make()
        try await server.request(1, "Forever", flags: 0x01)
        _ = try await server.nextFrame()
        server.channel.pipeline.fireUserInboundEventTriggered(DrainConnectionEvent())
        // Frames already queued may arrive before the final status.
        var frame = try await server.nextFrame()
        while frame.messageType == .data { frame = try await server.nextFrame() }
        let response = try Envelope.decodeResponse(frame.data)
        #expect(response.status.code == StatusCode.unavailable.rawValue)
        try await server.channel.closeFuture.get()
    }
}
