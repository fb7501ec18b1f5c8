import Foundation
import JWTKit

/// The claims of a bookdelivery token. `kid` travels in the header; everything else is here.
public struct TokenClaims: JWTPayload, Equatable {
    /// Who mints tokens and who they are for: both are checked on every request.
    public static let issuer = "bookdelivery"
    public static let audience = "bookdelivery-api"
    /// Clock skew tolerated on `exp` and `nbf` between the minting and the checking machine.
    public static let leeway: TimeInterval = 30

    public var iss: IssuerClaim
    public var aud: AudienceClaim
    public var sub: SubjectClaim
    public var role: Role
    public var iat: IssuedAtClaim
    public var nbf: NotBeforeClaim?
    public var exp: ExpirationClaim

    public init(subject: String, role: Role, issuedAt: Date, expiresAt: Date) {
        iss = IssuerClaim(value: Self.issuer)
        aud = AudienceClaim(value: [Self.audience])
        sub = SubjectClaim(value: subject)
        self.role = role
        iat = IssuedAtClaim(value: issuedAt)
        nbf = NotBeforeClaim(value: issuedAt)
        exp = ExpirationClaim(value: expiresAt)
    }

    /// Called by jwt-kit once the signature is good.
    public func verify(using _: some JWTAlgorithm) async throws {
        try check(now: Date())
    }

    func check(now: Date) throws(TokenRejection) {
        try checkContent()
        try Self.checkTimes(notBefore: nbf?.value, expiresAt: exp.value, now: now)
    }

    /// Who issued it, for whom, and whom it names: the same at every use of the token.
    func checkContent() throws(TokenRejection) {
        guard iss.value == Self.issuer else { throw .wrongIssuer }
        guard aud.value.contains(Self.audience) else { throw .wrongAudience }
        guard !sub.value.isEmpty, sub.value.count <= 100, !sub.value.contains(where: \.isControl) else { throw .malformed }
    }

    /// Whether a token is valid at `now` by its times (the check a remembered token still needs).
    static func checkTimes(notBefore: Date?, expiresAt: Date, now: Date) throws(TokenRejection) {
        guard expiresAt.addingTimeInterval(leeway) > now else { throw .expired }
        if let notBefore, notBefore.addingTimeInterval(-leeway) > now { throw .notYetValid }
    }
}

/// Why a token was refused; said in the 401's body (never echoing the token).
public enum TokenRejection: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed
    case algorithmNotAllowed(String)
    case unknownKey
    case badSignature
    case wrongIssuer
    case wrongAudience
    case expired
    case notYetValid

    public var description: String {
        switch self {
        case .malformed: "the token is not a well-formed JWT"
        case .algorithmNotAllowed(let algorithm): "tokens signed with '\(algorithm)' are not accepted"
        case .unknownKey: "the token's key id is not one of ours"
        case .badSignature: "the token's signature does not verify"
        case .wrongIssuer: "the token was not issued by bookdelivery"
        case .wrongAudience: "the token is not meant for this API"
        case .expired: "the token has expired"
        case .notYetValid: "the token is not valid yet"
        }
    }
}

extension Character {
    fileprivate var isControl: Bool { unicodeScalars.contains { $0.properties.generalCategory == .control } }
}
