import Foundation
import HavenLocking

/// What a TLS client proved about itself during the handshake: the
/// fingerprint of the certificate it presented, if any. The TLS layer fills
/// it in while verifying; calls read it, and no call can arrive before the
/// handshake is over, so a call never sees it half-written.
public final class PresentedCertificate: Sendable {
    private let value = Locked<String?>(nil)

    public init() {}

    public var fingerprint: String? { value.withLock { $0 } }

    public func record(_ fingerprint: String) {
        value.withLock { $0 = fingerprint }
    }

    /// A fingerprint as people type it, in the form certificates are pinned
    /// by: "sha256:" and 64 lower-case hex digits (colons between bytes and
    /// upper case are accepted). Nil when it is not one.
    public static func normalizedFingerprint(_ text: String) -> String? {
        var body = text.trimmingCharacters(in: .whitespaces).lowercased()
        if body.hasPrefix("sha256:") { body.removeFirst(7) }
        body.removeAll { $0 == ":" }
        guard body.count == 64, body.allSatisfy(\.isHexDigit) else { return nil }
        return "sha256:" + body
    }
}
