import Foundation
import JWTKit

/// Checks bearer tokens with public keys only, as RFC 8725 asks: one pinned algorithm (EdDSA), a
/// known `kid` (jwt-kit would fall back to a default key for an unknown one, so the header is
/// checked here first), then the signature, then `iss`, `aud`, `exp` and `nbf`.
///
/// The signature is checked with jwt-kit's EdDSA algorithm directly, not through its
/// `JWTKeyCollection`: that is an actor, and every request of the process would queue on it.
public struct TokenVerifier: Sendable {
    public static let algorithm = "EdDSA"

    private let algorithms: [String: any JWTAlgorithm]

    init(publicKeys: [String: EdDSA.PublicKey]) async {
        var algorithms: [String: any JWTAlgorithm] = [:]
        for (kid, key) in publicKeys {
            let collection = await JWTKeyCollection().add(eddsa: key, kid: JWKIdentifier(string: kid))
            algorithms[kid] = try? await collection.getKey(for: JWKIdentifier(string: kid))
        }
        self.algorithms = algorithms
    }

    /// The caller a token names, or why it is refused.
    public func verify(_ token: some StringProtocol) async throws(TokenRejection) -> Caller {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 4096, parts.count == 3, let headerData = Base64URL.decode(Substring(parts[0])),
            let header = try? JSONDecoder().decode(Header.self, from: headerData)
        else { throw .malformed }
        guard header.alg == Self.algorithm else { throw .algorithmNotAllowed(header.alg) }
        guard let kid = header.kid, let algorithm = algorithms[kid] else { throw .unknownKey }
        guard let signature = Base64URL.decode(Substring(parts[2])), let payload = Base64URL.decode(Substring(parts[1])) else {
            throw .malformed
        }
        let signed = token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)
        guard (try? algorithm.verify(signature, signs: Array(signed))) == true else { throw .badSignature }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        guard let claims = try? decoder.decode(TokenClaims.self, from: payload) else { throw .malformed }
        try claims.check(now: Date())
        return Caller(subject: claims.sub.value, role: claims.role)
    }

    struct Header: Decodable {
        var alg: String
        var kid: String?
    }
}
