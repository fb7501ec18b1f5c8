import Bus
import Contracts
import Crypto
import Foundation
import Identity

/// A Redis user per service, with only the commands and keys its work needs (Redis 7 ACL), as
/// `bookdelivery up` writes them to `users.acl`:
/// - `default` is off: no connection without a user and its password;
/// - each service reads the streams of its group and acknowledges, claims and inspects there, but
///   adds entries (`XADD`, also inside the dead-letter script) and trims only in a selector limited
///   to its own stream and its own dead-letter streams: Rental cannot write `delivery-events`;
/// - only Lookup has `lookup:*`;
/// - each service may delete entries (`XDEL`) only from its own dead-letter streams: what it handled
///   when an admin had them replayed (``DeadLetterReplay``);
/// - `operator` reads everything, re-drives dead letters (`XADD` + `XDEL` in one `MULTI`) and
///   retires consumer groups (`XGROUP DESTROY`), for `streams`, `dead-letters` and `groups`;
/// - `gateway` only reads: what the operator's page shows, and Lookup's changes (`XREAD` of
///   `lookup:changes`) for the live pages. It writes no stream: the public process, if taken
///   over, cannot forge an event. The web app's re-drive is an admin's request it passes to the
///   service that owns the dead letters.
/// - `replica` is how a replica logs in to its primary (`PSYNC`, `REPLCONF`), and `sentinel` how the
///   sentinels watch the nodes and fail them over (`INFO`, `ROLE`, `REPLICAOF` in a `MULTI`, their
///   hello channel, killing the demoted primary's clients): Redis's own lists for the two;
/// - every user may ask `ROLE`: a client that reached a node through the sentinels checks it is
///   the primary before it writes there;
/// - only `admin` has `@all` (FLUSHALL, CONFIG, ACL …).
///
/// Passwords are stored as SHA-256 hashes (`#…`), so the ACL file holds no secret.
public enum RedisUsers {
    public static let services = ServiceNames.all
    public static let all = services + ["operator", "gateway", "admin", "replica", "sentinel"]

    /// The ACL rules of `user`, without its password.
    public static func rules(for user: String) -> String {
        switch user {
        case "admin":
            return "~* &* +@all"
        case "operator":
            return operatorRules
        case "gateway":
            return readRules + " +xread"
        case "replica":
            return "resetchannels -@all +psync +replconf +ping"
        case "sentinel":
            return
                "allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill"
        default:
            return serviceRules(user)
        }
    }

    /// Reading every key's streams and counters.
    private static let readRules = "resetchannels ~* -@all +ping +role +scan +type +xlen +xinfo +xrange +xrevrange +xpending +hgetall"
    private static let operatorRules = readRules + " +xadd +xdel +multi +exec +xgroup|destroy"

    private static func serviceRules(_ service: String) -> String {
        let read = ConsumerGroups.streams[service] ?? []
        let written = Streams.ownedBy[service].map { [$0] } ?? []
        let deadLetters = read.map { DeadLetter.stream(for: $0, group: service) }
        let counters = [RetentionPolicy.capTrimmedKey, OutboxRelay.setAsideKey]
        // Root: consume, inspect and count; keys: what the group reads, its own streams and counters.
        let rootKeys = (read + written + deadLetters + counters).map { "~\($0)" }.joined(separator: " ")
        var rules =
            "resetchannels -@all +ping +role +xreadgroup +xack +xclaim +xautoclaim +xpending +xinfo +xrange +xlen +xgroup|create +eval +hincrby \(rootKeys)"
        // Selector: add and trim entries, only in the streams this service writes.
        let writable = (written + deadLetters).map { "~\($0)" }.joined(separator: " ")
        rules += " (+xadd +xtrim \(writable))"
        // Selector: delete replayed dead letters, only in its own dead-letter streams.
        rules += " (+xdel \(deadLetters.map { "~\($0)" }.joined(separator: " ")))"
        if service == ServiceNames.lookup {
            rules += " (+hget +hgetall +hmget +hset +zadd +zrange +zcount +zrem +unlink +xadd +eval ~lookup:*)"
        }
        return rules
    }

    /// The ACL file for `passwords` (user → password).
    public static func aclFile(passwords: [String: String]) -> String {
        var lines = ["user default off resetkeys resetchannels -@all"]
        for user in all {
            guard let password = passwords[user] else { continue }
            lines.append("user \(user) on #\(sha256(password)) \(rules(for: user))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The file, beside the users' passwords, with the sentinels' own password (their `requirepass`).
    public static let sentinelsPasswordFile = "sentinels.password"

    /// Writes, in `directory` (made 0700), each user's password to `<user>.password` (0600; an
    /// existing one is kept), the sentinels' to `sentinels.password`, `operator.username`, and
    /// `users.acl` (0600) with the users' hashes. Returns the users' passwords.
    @discardableResult
    public static func writeFiles(in directory: URL) throws -> [String: String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        var passwords: [String: String] = [:]
        for user in all {
            passwords[user] = try keptPassword(at: directory.appendingPathComponent("\(user).password").path)
        }
        _ = try keptPassword(at: directory.appendingPathComponent(sentinelsPasswordFile).path)
        try PrivateFile.write(Data("operator".utf8), to: directory.appendingPathComponent("operator.username").path)
        try PrivateFile.write(Data(aclFile(passwords: passwords).utf8), to: directory.appendingPathComponent("users.acl").path)
        return passwords
    }

    /// The password in the file at `path`; a new one written there first (0600) if it has none.
    public static func keptPassword(at path: String) throws -> String {
        if let kept = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !kept.isEmpty {
            return kept
        }
        let password = newPassword()
        try PrivateFile.write(Data((password + "\n").utf8), to: path)
        return password
    }

    /// A new random password: 32 bytes, hex.
    public static func newPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
