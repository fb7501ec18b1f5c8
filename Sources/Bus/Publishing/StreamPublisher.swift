/// An event on its way to a stream.
public struct OutgoingEvent: Sendable, Equatable {
    public var stream: String
    public var envelope: EventEnvelope

    public init(stream: String, envelope: EventEnvelope) {
        self.stream = stream
        self.envelope = envelope
    }
}

/// Appends events to streams with `XADD`, a batch at a time in one pipelined round trip.
///
/// Streams are capped with `MAXLEN ~ maxLength`: the approximate form lets Redis trim whole
/// radix-tree nodes, which is far cheaper than exact trimming. Keep the cap well above what any
/// consumer group can lag behind, since trimmed entries are gone for late groups and rebuilds.
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
        let commands = events.map { Self.xadd($0, maxLength: maxLength) }
        let replies = try await client.pipeline(commands)
        return try replies.map { reply in
            guard let id = try reply.orThrow().string else { throw RedisError.unexpectedReply("XADD gave \(reply)") }
            return id
        }
    }

    public func publish(_ event: OutgoingEvent) async throws -> String {
        try await publish([event])[0]
    }

    static func xadd(_ event: OutgoingEvent, maxLength: Int) -> [String] {
        ["XADD", event.stream, "MAXLEN", "~", String(maxLength), "*"] + event.envelope.fields
    }
}
