import Foundation
import JWTKit

/// The files of a key directory, as `bookdelivery keys --dir DIR` writes them:
/// - `signing-key.jwk`: the Ed25519 private key (mode 0600), for `bookdelivery token` only;
/// - `jwks.json`: the public key with its `kid`, all that the gateway and the services need.
public struct KeyDirectory: Sendable {
    public static let signingKeyFile = "signing-key.jwk"
    public static let publicKeysFile = "jwks.json"

    public let path: String

    public init(path: String) { self.path = path }

    public var signingKeyPath: String { (path as NSString).appendingPathComponent(Self.signingKeyFile) }
    public var publicKeysPath: String { (path as NSString).appendingPathComponent(Self.publicKeysFile) }

    /// Whether the directory holds a key pair already.
    public var exists: Bool { FileManager.default.fileExists(atPath: publicKeysPath) }

    /// Makes a new key pair. Refuses to overwrite one (tokens signed with it would stop working)
    /// unless `replace` is set. Returns the new key's id.
    @discardableResult
    public func create(replace: Bool = false) throws -> String {
        if !replace, FileManager.default.fileExists(atPath: signingKeyPath) || exists {
            throw KeyDirectoryError.alreadyExists(path)
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = try EdDSA.PrivateKey(curve: .ed25519)
        let kid = "bd-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let x = Base64URL.encode(key.publicKey.rawRepresentation)
        let privateJWK = KeyFile(
            kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", kid: kid, x: x, d: Base64URL.encode(key.rawRepresentation))
        var publicJWK = privateJWK
        publicJWK.d = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try PrivateFile.write(try encoder.encode(privateJWK), to: signingKeyPath, mode: 0o600)
            try PrivateFile.write(try encoder.encode(KeySet(keys: [publicJWK])), to: publicKeysPath, mode: 0o644)
        } catch let error as PrivateFileError {
            throw KeyDirectoryError.cannotWrite(error.path)
        }
        return kid
    }

    /// What verifies tokens: the public keys of `jwks.json`.
    public func verifier() async throws -> TokenVerifier {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: publicKeysPath)) } catch {
            throw KeyDirectoryError.missing(publicKeysPath)
        }
        guard let set = try? JSONDecoder().decode(KeySet.self, from: data), !set.keys.isEmpty else {
            throw KeyDirectoryError.unreadable(publicKeysPath)
        }
        var keys: [String: EdDSA.PublicKey] = [:]
        for key in set.keys {
            guard key.kty == "OKP", key.crv == "Ed25519", let publicKey = try? EdDSA.PublicKey(x: key.x, curve: .ed25519) else {
                throw KeyDirectoryError.unreadable(publicKeysPath)
            }
            keys[key.kid] = publicKey
        }
        return await TokenVerifier(publicKeys: keys)
    }

    /// What mints tokens: the private key.
    public func issuer() throws -> TokenIssuer {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: signingKeyPath)) } catch {
            throw KeyDirectoryError.missing(signingKeyPath)
        }
        guard let file = try? JSONDecoder().decode(KeyFile.self, from: data), let d = file.d,
            let key = try? EdDSA.PrivateKey(d: d, curve: .ed25519)
        else { throw KeyDirectoryError.unreadable(signingKeyPath) }
        return TokenIssuer(key: key, kid: file.kid)
    }

    /// One JSON Web Key (RFC 8037 OKP); `d` only in the private file.
    struct KeyFile: Codable {
        var kty: String
        var crv: String
        var alg: String?
        var use: String?
        var kid: String
        var x: String
        var d: String?
    }

    struct KeySet: Codable {
        var keys: [KeyFile]
    }
}

public enum KeyDirectoryError: Error, CustomStringConvertible {
    case alreadyExists(String)
    case missing(String)
    case unreadable(String)
    case cannotWrite(String)

    public var description: String {
        switch self {
        case .alreadyExists(let path):
            "\(path) already holds keys; pass --replace to make new ones (tokens signed with the old key stop working)"
        case .missing(let path): "\(path) does not exist; create keys with `bookdelivery keys --dir DIR`"
        case .unreadable(let path): "\(path) is not a key file bookdelivery wrote"
        case .cannotWrite(let path): "cannot write \(path)"
        }
    }
}
