import Foundation

/// "host:port", as the config (`[remote] listen`), the CLI (`--remote`) and
/// enrolment (`--server`) take it; an IPv6 host may be in brackets.
public struct TCPAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// Nil unless `text` is a host, a colon and a port within `ports`.
    public init?(_ text: String, ports: ClosedRange<Int> = 1...65_535) {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
              let port = Int(text[text.index(after: colon)...]), ports.contains(port) else { return nil }
        self.host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}
