import Dispatch
import HavenRPCServer
import HavenWire
import NIOPosix

struct UnexpectedFailure: Error {}

/// A small service for exercising the transport.
struct TestDispatcher: RPCDispatcher {
    /// Told when a Slow call has begun, for tests that must know it is in flight.
    var slowStarted: (@Sendable () -> Void)?

    func route(service: String, method: String) -> RoutedMethod {
        guard service == "test.Echo" else { return .reject(.unimplemented("unknown service \(service)")) }
        switch method {
        case "Echo":
            return .unary { call in call.payload }
        case "Slow":
            return .unary { [slowStarted] call in
                slowStarted?()
                try await Task.sleep(for: .milliseconds(400))
                return call.payload
            }
        case "Hang":
            return .unary { _ in
                try await Task.sleep(for: .seconds(3600))
                return []
            }
        case "Double":
            return .unary { call in call.payload + call.payload }
        case "StreamDouble":
            return .serverStreaming { call, writer in try await writer.send(call.payload + call.payload) }
        case "Fail":
            return .unary { _ in throw RPCError.notFound("no such thing") }
        case "Crash":
            return .unary { _ in throw UnexpectedFailure() }
        case "Count":
            return .serverStreaming { call, writer in
                let n = Int(call.payload.first ?? 3)
                for i in 0..<n { try await writer.send([UInt8(i)]) }
            }
        case "CountThenFail":
            return .serverStreaming { _, writer in
                try await writer.send([1])
                throw RPCError.failedPrecondition("stopped")
            }
        case "Forever":
            return .serverStreaming { _, writer in
                var i: UInt8 = 0
                while true {
                    try await writer.send([i])
                    i &+= 1
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
        case "Immediate":
            // Answered without a task when the payload's first byte is 1,
            // refused without a task when it is 2, else by the async handler.
            return .unary({ call in Array("async".utf8) + call.payload }, .immediateWhenPossible({ call in
                switch call.payload.first {
                case 1: return Array("immediate".utf8)
                case 2: throw RPCError.failedPrecondition("refused at once")
                default: return nil
                }
            }))
        case "OnLoop":
            // Where an `.onEventLoop` handler runs before and after awaiting
            // work done on another thread: 1 on an event loop thread, 0 elsewhere.
            return .unary({ _ in
                let before: UInt8 = MultiThreadedEventLoopGroup.currentEventLoop == nil ? 0 : 1
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().async { done.resume() }
                }
                let after: UInt8 = MultiThreadedEventLoopGroup.currentEventLoop == nil ? 0 : 1
                return [before, after]
            }, .onEventLoop)
        case "Peer":
            return .unary { call in
                guard let peer = call.peer else { return [] }
                return Array("\(peer.uid)".utf8)
            }
        default:
            return .reject(.unimplemented("test.Echo has no method \(method)"))
        }
    }
}
