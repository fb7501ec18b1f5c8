import ArgumentParser
import Foundation
import Identity
import ServiceKit

/// `bookdelivery keys --dir DIR`: a new signing key pair.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create an Ed25519 signing key (DIR/signing-key.jwk, mode 0600) and DIR/jwks.json with its public key.",
        discussion: """
            The gateway and the services need only jwks.json (--keys DIR); the signing key mints tokens \
            (`bookdelivery token`) and should stay where tokens are made.
            """)

    @Option(help: "Directory for the key files (created mode 0700).") var dir: String
    @Flag(help: "Replace existing keys: every token signed with the old key stops working.") var replace = false

    func run() async throws {
        let directory = KeyDirectory(path: dir)
        do {
            let kid = try directory.create(replace: replace)
            print("created key \(kid): \(directory.signingKeyPath) (private, 0600) and \(directory.publicKeysPath) (public)")
        } catch let error as KeyDirectoryError {
            throw ValidationError("\(error)")
        }
    }
}

/// `bookdelivery token --keys DIR --subject alice --role customer [--ttl 1h]`: one signed JWT.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a signed token (JWT) for a subject and a role, for the Authorization: Bearer header.",
        discussion: "Roles: customer (the subject is the customer id), courier, admin.")

    @Option(help: "Directory made by `bookdelivery keys` (env KEYS_DIR).") var keys: String?
    @Option(help: "Who the token is for: for a customer, its customer id.") var subject: String
    @Option(help: "customer, courier or admin.") var role: String
    @Option(help: "How long the token is valid, e.g. 15m, 1h, 7d (at most 30d).") var ttl = "1h"

    func run() async throws {
        guard let role = Role(rawValue: role) else { throw ValidationError("--role must be customer, courier or admin") }
        let subject = subject.trimmingCharacters(in: .whitespaces)
        guard !subject.isEmpty, subject.count <= 100, !subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { throw ValidationError("--subject must be 1 to 100 characters without control characters") }
        guard let lifetime = DurationText.parse(ttl), lifetime > .zero, lifetime <= TokenIssuer.maximumLifetime else {
            throw ValidationError("--ttl takes a duration from 1s to 30d, e.g. 15m, 1h or 7d")
        }
        guard let directory = keys ?? ProcessInfo.processInfo.environment["KEYS_DIR"] else {
            throw ValidationError("--keys DIR (or KEYS_DIR) is required: the directory `bookdelivery keys --dir DIR` made")
        }
        let issuer: TokenIssuer
        do { issuer = try KeyDirectory(path: directory).issuer() } catch { throw ValidationError("\(error)") }
        print(try await issuer.token(subject: subject, role: role, lifetime: lifetime))
    }
}

/// `bookdelivery redis-users --dir DIR`: the Redis users' passwords and ACL file, for a deployment.
struct RedisUsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-users",
        abstract:
            "Write a password per Redis user (DIR/<user>.password, 0600; kept if present), the sentinels' (DIR/sentinels.password) and DIR/users.acl with the users' hashes.",
        discussion: "`up` does this for its own Redis; ops/k8s/make-secrets uses it for Kubernetes. Passwords are never printed.")

    @Option(help: "Directory for the files (created mode 0700).") var dir: String

    func run() async throws {
        try RedisUsers.writeFiles(in: URL(fileURLWithPath: dir))
        print("wrote \(RedisUsers.all.count) users' passwords, the sentinels' and users.acl to \(dir)")
    }
}
