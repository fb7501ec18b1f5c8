import Foundation
import JWTKit
import Synchronization

/// Checks bearer tokens with public keys only, as RFC 8725 asks: one pinned algorithm (EdDSA), a
/// known `kid` (jwt-kit would fall back to a default key for an unknown one, so the header is
/// checked here first), then the signature, then `iss`, `aud`, `exp` and `nbf`.
///
/// The signature is checked with jwt-kit's EdDSA algorithm directly, not through its
/// `JWTKeyCollection`: that is an actor, and every request of the process would queue on it.
///
/// A client sends the same token with every request until it expires, and checking an Ed25519
/// signature (with decoding the token) took a quarter of Rental's CPU per order: a token whose
/// signature checked out is remembered (the exact token text, up to ``cacheSize`` of them), and
/// its `exp` and `nbf` are checked again at every use.
public struct TokenVerifier: Sendable {
    public static let algorithm = "EdDSA"
    public static let cacheSize = 4096

    private let algorithms: [String: any JWTAlgorithm]
    private let verified = VerifiedTokens()

    init(publicKeys: [String: EdDSA.PublicKey]) async {
        var algorithms: [String: any JWTAlgorithm] = [:]
        for (kid, key) in publicKeys {
            let collection = await JWTKeyCollection().add(eddsa: key, kid: JWKIdentifier(string: kid))
            algorithms[kid] = try? await collection.getKey(for: JWKIdentifier(string: kid))
        }
        self.algorithms = algorithms
    }

    /// The caller a token names, or why it is refused.
    public func verify(_ token: some StringProtocol, now: Date = Date()) async throws(TokenRejection) -> Caller {
        let text = String(token)
        if let known = verified.token(text) {
            // Only its times can have changed since its content was checked. (Checking the subject
            // again, by Unicode category per character, was 0.7 % of the gateway's CPU.)
            try TokenClaims.checkTimes(notBefore: known.notBefore, expiresAt: known.expiresAt, now: now)
            return known.caller
        }
        let claims = try verifySignature(text)
        try claims.check(now: now)
        let caller = Caller(subject: claims.sub.value, role: claims.role)
        verified.remember(text, .init(caller: caller, notBefore: claims.nbf?.value, expiresAt: claims.exp.value))
        return caller
    }

    /// The claims of a token whose header, signature and payload check out (its times not yet).
    private func verifySignature(_ token: String) throws(TokenRejection) -> TokenClaims {
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
        return claims
    }

    struct Header: Decodable {
        var alg: String
        var kid: String?
    }
}

/// Tokens whose signature checked out, with their claims; emptied when full (a process sees far
/// fewer live tokens than that between two fills, and a miss only costs one signature check).
final class VerifiedTokens: Sendable {
    /// What a use of a token still needs once its signature and content checked out.
    struct Known: Sendable {
        var caller: Caller
        var notBefore: Date?
        var expiresAt: Date
    }

    private let known = Mutex<[String: Known]>([:])

    func token(_ token: String) -> Known? { known.withLock { $0[token] } }

    func remember(_ token: String, _ checked: Known) {
        known.withLock { known in
            if known.count >= TokenVerifier.cacheSize { known.removeAll(keepingCapacity: true) }
            known[token] = checked
        }
    }
}
