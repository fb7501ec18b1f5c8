import Foundation
import JWTKit

/// Checks bearer tokens with public keys only, as RFC 8725 asks: one pinned algorithm (EdDSA), a
/// known `kid` (jwt-kit would fall back to a default key for an unknown one, so the header is
/// checked here first), then the signature, then `iss`, `aud`, `exp` and `nbf`.
public struct TokenVerifier: Sendable {
    public static let algorithm = "EdDSA"

    private let keys: JWTKeyCollection
    private let kids: Set<String>

    init(publicKeys: [String: EdDSA.PublicKey]) async {
        let collection = JWTKeyCollection()
        for (kid, key) in publicKeys { await collection.add(eddsa: key, kid: JWKIdentifier(string: kid)) }
        self.keys = collection
        self.kids = Set(publicKeys.keys)
    }

    /// The caller a token names, or why it is refused.
    public func verify(_ token: some StringProtocol) async throws(TokenRejection) -> Caller {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 4096, parts.count == 3, let headerData = Base64URL.decode(Substring(parts[0])),
            let header = try? JSONDecoder().decode(Header.self, from: headerData)
        else { throw .malformed }
        guard header.alg == Self.algorithm else { throw .algorithmNotAllowed(header.alg) }
        guard let kid = header.kid, kids.contains(kid) else { throw .unknownKey }
        let claims: TokenClaims
        do {
            claims = try await keys.verify(String(token), as: TokenClaims.self)
        } catch let rejection as TokenRejection {
            throw rejection
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .badSignature
        } catch {
            throw .malformed
        }
        return Caller(subject: claims.sub.value, role: claims.role)
    }

    struct Header: Decodable {
        var alg: String
        var kid: String?
    }
}
