import Identity

/// `--demo`: the sign-in page offers a few people to be, each with a short-lived token the gateway
/// signs itself (so it needs the signing key). Never on a gateway that serves real people.
struct DemoIdentities: Sendable {
    static let identities: [(subject: String, role: Role)] = [
        ("alice", .customer), ("bob", .customer), ("courier-1", .courier), ("admin", .admin),
    ]
    static let lifetime: Duration = .seconds(3600)

    let issuer: TokenIssuer

    /// A token for the demo identity `subject`; nil for anyone else.
    func token(for subject: String) async throws -> String? {
        guard let identity = Self.identities.first(where: { $0.subject == subject }) else { return nil }
        return try await issuer.token(subject: identity.subject, role: identity.role, lifetime: Self.lifetime)
    }
}
