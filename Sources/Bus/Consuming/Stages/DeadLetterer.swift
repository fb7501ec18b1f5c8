import Foundation
import Primitives
import Redis

/// Stage "dead-letter": copies entries the group gives up on to `<stream>:dead:<group>` and
/// acknowledges them. One script per entry, so the acknowledgement runs only once the copy is in:
/// a failed copy (say `NOPERM`) stops the script, and the entry stays pending. (In a `MULTI`, a
/// command that fails does not stop the next one.)
struct DeadLetterer: Sendable {
    struct Item: Sendable {
        var attempt: Attempt
        var reason: String
    }

    let client: RedisClient
    let group: String
    let consumer: String

    /// KEYS: dead-letter stream, source stream. ARGV: group, entry id, then the dead-letter fields.
    static let script = """
        redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
        return redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
        """

    /// One `EVAL` per item.
    func commands(for items: [Item], at time: String) -> [[String]] {
        items.map { item in
            let entry = item.attempt.entry
            let fields = DeadLetter.fields(
                original: entry.fields, stream: entry.stream, entryId: entry.id, group: group, consumer: consumer,
                attempts: item.attempt.number, error: item.reason, at: time)
            return ["EVAL", Self.script, "2", DeadLetter.stream(for: entry.stream, group: group), entry.stream, group, entry.id] + fields
        }
    }

    /// Dead-letters `items`; throws when any copy failed (those entries stay pending, to be tried again).
    func deadLetter(_ items: [Item]) async throws {
        guard !items.isEmpty else { return }
        for reply in try await client.pipeline(commands(for: items, at: Timestamp.string(from: Date()))) { try reply.orThrow() }
    }
}
