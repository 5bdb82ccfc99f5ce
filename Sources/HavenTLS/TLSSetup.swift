import NIOCore
import NIOSSL
import HavenRPCServer

/// TLS for ttrpc over TCP, the way Haven nodes use it: TLS 1.3 only, each
/// side a self-signed node certificate, and trust by pinned fingerprint
/// instead of by certificate authority (Docs/sync.md, "Transport").
public struct TLSServerSetup: Sendable {
    private let context: NIOSSLContext

    public init(identity: NodeIdentity) throws {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(identity.certificate)], privateKey: .privateKey(identity.privateKey))
        configuration.minimumTLSVersion = .tlsv13
        // Ask for a client certificate but do not demand one: remote staff
        // authenticate with a token, enrolled nodes with their certificate.
        configuration.certificateVerification = .optionalVerification
        context = try NIOSSLContext(configuration: configuration)
    }

    /// Adds the TLS handler to an accepted connection. A presented client
    /// certificate is recorded in `certificate`; `refuse` may turn a
    /// fingerprint away during the handshake (a revoked node), with a reason
    /// for the log.
    public func secure(
        _ channel: Channel, certificate: PresentedCertificate,
        refuse: @escaping @Sendable (String) -> String?
    ) throws {
        let handler = NIOSSLServerHandler(context: context) { chain, promise in
            guard let leaf = chain.first, let fingerprint = try? CertificateFingerprint.of(leaf) else {
                promise.succeed(.failed)
                return
            }
            if refuse(fingerprint) != nil {
                promise.succeed(.failed)
                return
            }
            certificate.record(fingerprint)
            promise.succeed(.certificateVerified)
        }
        try channel.pipeline.syncOperations.addHandler(handler)
    }
}

/// The client side: presents this node's certificate (when it has one) and
/// accepts the server only if its certificate has the pinned fingerprint.
public struct TLSClientSetup: Sendable {
    private let context: NIOSSLContext
    private let pinnedFingerprint: String

    /// `identity` nil: a remote user's tool, authenticating with a token.
    public init(identity: NodeIdentity?, serverFingerprint: String) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        // Verification is the pin below, not a CA chain or a host name.
        configuration.certificateVerification = .noHostnameVerification
        if let identity {
            configuration.certificateChain = [.certificate(identity.certificate)]
            configuration.privateKey = .privateKey(identity.privateKey)
        }
        context = try NIOSSLContext(configuration: configuration)
        pinnedFingerprint = serverFingerprint
    }

    public func secure(_ channel: Channel) throws {
        let pinned = pinnedFingerprint
        let handler = try NIOSSLClientHandler(context: context, serverHostname: nil) { chain, promise in
            guard let leaf = chain.first, let fingerprint = try? CertificateFingerprint.of(leaf), fingerprint == pinned else {
                promise.fail(PinMismatch(expected: pinned, presented: chain.first.flatMap { try? CertificateFingerprint.of($0) }))
                return
            }
            promise.succeed(.certificateVerified)
        }
        try channel.pipeline.syncOperations.addHandlers(handler, TLSFailureExplainer(pinned: pinned))
    }
}

/// Turns a failed handshake into words a person can act on: BoringSSL's
/// alerts say "CERTIFICATE_UNKNOWN", not "this laptop was revoked".
final class TLSFailureExplainer: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let pinned: String

    init(pinned: String) { self.pinned = pinned }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.fireErrorCaught(TLSFailure(underlying: error, pinned: pinned))
    }
}

public struct TLSFailure: Error, CustomStringConvertible {
    public let underlying: Error
    let pinned: String

    public var description: String {
        let text = "\(underlying)"
        if text.contains("CERTIFICATE_UNKNOWN") || text.contains("BAD_CERTIFICATE") || text.contains("CERTIFICATE_REQUIRED") {
            return "the server refused this node's certificate: the node is unknown to it or was revoked (haven node list on the server shows which); TLS said: \(text)"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("handshakeFailed") || underlying is PinMismatch {
            return "the server's certificate is not the pinned one (\(pinned)); check the fingerprint with `haven node identity` on the server; TLS said: \(text)"
        }
        return "TLS failed: \(text)"
    }
}

/// The server's certificate is not the one pinned for it.
public struct PinMismatch: Error, CustomStringConvertible {
    public let expected: String
    public let presented: String?
    public var description: String {
        "the server's certificate is \(presented ?? "missing"), not the pinned \(expected); if the server's identity really changed, enrol again with its new fingerprint"
    }
}
