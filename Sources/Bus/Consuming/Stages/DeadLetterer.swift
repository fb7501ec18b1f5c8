import Foundation
import Redis

/// Stage "dead-letter": copies entries the group gives up on to `<stream>:dead:<group>` and
/// acknowledges them, atomically (`MULTI`), so an entry is never acknowledged without its copy.
struct DeadLetterer: Sendable {
    struct Item: Sendable {
        var attempt: Attempt
        var reason: String
    }

    let client: RedisClient
    let group: String
    let consumer: String

    /// The `MULTI … EXEC` block that dead-letters `items`.
    func commands(for items: [Item], at time: String) -> [[String]] {
        var commands: [[String]] = [["MULTI"]]
        for item in items {
            let entry = item.attempt.entry
            let fields = DeadLetter.fields(
                original: entry.fields, stream: entry.stream, entryId: entry.id, group: group, consumer: consumer,
                attempts: item.attempt.number, error: item.reason, at: time)
            commands.append(StreamCommand.add(to: DeadLetter.stream(for: entry.stream, group: group), fields: fields))
            commands.append(["XACK", entry.stream, group, entry.id])
        }
        commands.append(["EXEC"])
        return commands
    }

    func deadLetter(_ items: [Item]) async throws {
        guard !items.isEmpty else { return }
        let replies = try await client.pipeline(commands(for: items, at: Timestamp.string(from: Date())))
        for reply in replies { try reply.orThrow() }
        guard let results = replies.last?.array else { throw RedisError.unexpectedReply("EXEC was aborted") }
        for result in results { try result.orThrow() }
    }
}
