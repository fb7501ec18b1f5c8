import Redis

/// Hands a group's dead letters to that group's own handler again, in the process that owns the
/// group, and deletes those it handled: the re-drive the web app asks for.
///
/// Why in the owning service and not by putting the entries back on their source stream
/// (``DeadLetterRedrive``, which the operator's command does): that needs `XADD` on the source
/// stream, and whoever has it can forge any event there. The gateway is the public process; were it
/// to hold that right, one compromised gateway could write `rental-events`. Here the gateway only
/// passes an admin's request on; the service needs nothing beyond what it already has on its own
/// dead-letter streams (read them, delete from them), and only the group that failed sees the
/// event again (the others had handled it).
public struct DeadLetterReplay: Sendable {
    public let group: String
    /// The streams the group reads: their dead letters are the only ones it replays.
    public let streams: [String]
    let client: RedisClient
    let handler: StreamConsumer.BatchHandler

    public init(group: String, streams: [String], client: RedisClient, handler: @escaping StreamConsumer.BatchHandler) {
        self.group = group
        self.streams = streams
        self.client = client
        self.handler = handler
    }

    public struct Outcome: Codable, Sendable, Equatable {
        public var deadLetterStream: String
        /// Handled again and deleted from the dead letters.
        public var replayed: Int
        /// Failed again (or unreadable): left where they are, with the error of the first.
        public var failed: Int
        public var firstError: String?
    }

    /// Replays up to `limit` dead letters of `stream` (a stream the group reads). Nil for another
    /// stream: no group's dead letters but this one's are touched.
    public func replay(stream: String, limit: Int = 1000) async throws -> Outcome? {
        guard streams.contains(stream) else { return nil }
        let deadLetterStream = DeadLetter.stream(for: stream, group: group)
        var outcome = Outcome(deadLetterStream: deadLetterStream, replayed: 0, failed: 0)
        var readable: [(entryId: String, event: ReceivedEvent)] = []
        for entry in try await client.range(of: deadLetterStream, count: limit) {
            do {
                let envelope = try EventEnvelope(fields: DeadLetter.originalFields(of: entry))
                let original = entry.fields?["dead.entryId"] ?? entry.id
                readable.append((entry.id, ReceivedEvent(envelope: envelope, stream: stream, entryId: original, attempt: 1)))
            } catch {
                outcome.failed += 1
                outcome.firstError = outcome.firstError ?? "undecodable entry \(entry.id): \(error)"
            }
        }
        guard !readable.isEmpty else { return outcome }
        let results = await handler(readable.map(\.event))
        var handled: [String] = []
        for (index, item) in readable.enumerated() {
            if index < results.count, results[index] == nil {
                handled.append(item.entryId)
            } else {
                outcome.failed += 1
                outcome.firstError = outcome.firstError ?? (index < results.count ? results[index].map { "\($0)" } : "no outcome")
            }
        }
        if !handled.isEmpty { _ = try await client.command(["XDEL", deadLetterStream] + handled).orThrow() }
        outcome.replayed = handled.count
        return outcome
    }
}
