import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// Why a node identity could not be loaded or created.
public struct NodeIdentityError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// This daemon's TLS identity: a P-256 key and a self-signed certificate,
/// created on first start in the data directory and kept there. Nodes do not
/// trust a certificate authority; they pin each other's certificate
/// fingerprint at enrolment (Docs/sync.md), so a self-signed certificate is
/// all a node needs.
public struct NodeIdentity: Sendable {
    public static let keyFile = "node-key.pem"
    public static let certificateFile = "node-cert.pem"

    public let certificate: NIOSSLCertificate
    public let privateKey: NIOSSLPrivateKey
    /// "sha256:" and the hex SHA-256 of the certificate's DER bytes.
    public let fingerprint: String

    /// Loads the identity from `directory`, creating it when neither file exists.
    /// One file without the other is an error: replacing a key silently would
    /// change the node's identity and break its enrolment.
    public static func loadOrCreate(in directory: String, nodeID: String) throws -> NodeIdentity {
        let keyPath = (directory as NSString).appendingPathComponent(keyFile)
        let certPath = (directory as NSString).appendingPathComponent(certificateFile)
        let manager = FileManager.default
        switch (manager.fileExists(atPath: keyPath), manager.fileExists(atPath: certPath)) {
        case (true, true):
            break
        case (false, false):
            try create(keyPath: keyPath, certPath: certPath, nodeID: nodeID)
        case (true, false), (false, true):
            throw NodeIdentityError(
                "\(directory) holds only one of \(keyFile) and \(certificateFile); restore the other from a backup, or remove both to give this node a new identity (it must then be enrolled again)")
        }
        do {
            let certificate = try NIOSSLCertificate(file: certPath, format: .pem)
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            return NodeIdentity(certificate: certificate, privateKey: key, fingerprint: try CertificateFingerprint.of(certificate))
        } catch let error as NodeIdentityError {
            throw error
        } catch {
            throw NodeIdentityError("could not read the node identity in \(directory): \(error)")
        }
    }

    private static func create(keyPath: String, certPath: String, nodeID: String) throws {
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            OrganizationName("Haven")
            CommonName("haven-node-\(nodeID)")
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(20 * 365 * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                KeyUsage(digitalSignature: true)
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
            },
            issuerPrivateKey: privateKey)
        // The key first, owner-only, then the certificate: a crash between
        // them leaves one file, which loadOrCreate reports rather than replaces.
        try write(key.pemRepresentation, to: keyPath, mode: 0o600)
        try write(certificate.serializeAsPEM().pemString, to: certPath, mode: 0o644)
    }

    private static func write(_ text: String, to path: String, mode: Int) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw NodeIdentityError("could not write \(temporary)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, path) == 0 else {
            throw NodeIdentityError("could not move \(temporary) to \(path): errno \(errno)")
        }
    }
}

/// Certificate fingerprints as nodes pin them: "sha256:<hex>".
public enum CertificateFingerprint {
    public static func of(_ certificate: NIOSSLCertificate) throws -> String {
        let digest = SHA256.hash(data: try certificate.toDERBytes())
        return "sha256:" + digest.map { String(format: "%02x", $0) }.joined()
    }
}
