import HavenWire

/// Sends the messages of a server-streaming call. Each `send` returns once the
/// frame has been handed to the socket, so a client that stops reading slows
/// the handler down instead of growing the daemon's memory.
public struct ResponseStreamWriter: Sendable {
    private let sendBytes: @Sendable ([UInt8]) async throws -> Void

    public init(send: @escaping @Sendable ([UInt8]) async throws -> Void) {
        self.sendBytes = send
    }

    /// Sends one encoded message as a Data frame. Throws when the call has
    /// ended (deadline, connection closed, daemon shutting down).
    public func send(_ payload: [UInt8]) async throws {
        try await sendBytes(payload)
    }
}
