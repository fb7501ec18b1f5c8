import Redis

/// Appends events to streams with `XADD`, a batch at a time in one pipelined round trip.
///
/// It does not cap the streams: ``StreamTrimmer`` trims them without dropping what a consumer group
/// has not read yet.
public struct StreamPublisher: Sendable {
    public let client: RedisClient

    public init(client: RedisClient) {
        self.client = client
    }

    /// Publishes `events` in order; returns their stream entry ids. Throws on the first error reply
    /// (the events before it are in the stream; publishing is at-least-once, consumers de-duplicate).
    @discardableResult
    public func publish(_ events: [OutgoingEvent]) async throws -> [String] {
        try await publishEach(events).map { try $0.get() }
    }

    @discardableResult
    public func publish(_ event: OutgoingEvent) async throws -> String {
        try await publish([event])[0]
    }

    /// Publishes `events` in order in one pipeline and says, for each, its entry id or Redis's error
    /// reply. With `connection`, only on the client's connection of that serial number: a connection
    /// made since throws ``RedisError/connectionChanged`` before anything is sent.
    public func publishEach(_ events: [OutgoingEvent], onConnection serial: Int? = nil) async throws -> [Result<String, RedisError>] {
        guard !events.isEmpty else { return [] }
        let commands = events.map { StreamCommand.add(to: $0.stream, fields: $0.envelope.fields) }
        let replies = try await client.withConnection { connection in
            if let serial, connection.serial != serial { throw RedisError.connectionChanged }
            return try connection.pipeline(commands)
        }
        return replies.map { reply in
            if case .error(let message) = reply { return .failure(.server(message)) }
            guard let id = reply.string else { return .failure(.unexpectedReply("XADD gave \(reply)")) }
            return .success(id)
        }
    }
}
