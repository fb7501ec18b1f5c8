import Foundation
import JWTKit

/// Mints tokens with the private key; only `bookdelivery token` (and `up`) hold one.
public struct TokenIssuer: Sendable {
    /// The longest a token may live: a leaked one stops working within a month at worst.
    public static let maximumLifetime: Duration = .seconds(30 * 86_400)

    let key: EdDSA.PrivateKey
    public let kid: String

    /// A signed JWT for `subject` in `role`, valid from now for `lifetime`.
    public func token(subject: String, role: Role, lifetime: Duration = .seconds(3600), now: Date = Date()) async throws -> String {
        let seconds = TimeInterval(lifetime.components.seconds)
        return try await sign(TokenClaims(subject: subject, role: role, issuedAt: now, expiresAt: now.addingTimeInterval(seconds)))
    }

    /// Signs `claims` as they are (tests use it for tokens that must be refused).
    public func sign(_ claims: TokenClaims) async throws -> String {
        let keys = await JWTKeyCollection().add(eddsa: key, kid: JWKIdentifier(string: kid))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }
}
