import Redis

/// Appends events to streams with `XADD`, a batch at a time in one pipelined round trip.
///
/// Streams are capped with `MAXLEN ~ maxLength` (see ``StreamCommand/add(to:maxLength:fields:)``).
/// Keep the cap well above what any consumer group can lag behind, since trimmed entries are gone
/// for late groups and rebuilds.
public struct StreamPublisher: Sendable {
    /// Default stream cap: a million entries, a few hundred MB at most for this project's events.
    public static let defaultMaxLength = 1_000_000

    public let client: RedisClient
    public let maxLength: Int

    public init(client: RedisClient, maxLength: Int = StreamPublisher.defaultMaxLength) {
        self.client = client
        self.maxLength = maxLength
    }

    /// Publishes `events` in order; returns their stream entry ids. Throws on the first error reply
    /// (the events before it are in the stream; publishing is at-least-once, consumers de-duplicate).
    @discardableResult
    public func publish(_ events: [OutgoingEvent]) async throws -> [String] {
        guard !events.isEmpty else { return [] }
        let commands = events.map { StreamCommand.add(to: $0.stream, maxLength: maxLength, fields: $0.envelope.fields) }
        let replies = try await client.pipeline(commands)
        return try replies.map { reply in
            guard let id = try reply.orThrow().string else { throw RedisError.unexpectedReply("XADD gave \(reply)") }
            return id
        }
    }

    public func publish(_ event: OutgoingEvent) async throws -> String {
        try await publish([event])[0]
    }
}
