import GRDB

/// A row of the `outbox` table: one event written in the same transaction as the state change
/// that produced it, waiting for the relay to put it on its stream.
public struct OutboxRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "outbox"

    /// Insertion order; the relay publishes in this order.
    public var sequence: Int64?
    public var stream: String
    public var eventId: String
    public var type: String
    public var key: String
    public var occurredAt: String
    public var correlationId: String
    public var causationId: String
    public var data: String
    /// The relay that is publishing the row, and until when (ms since 1970) its claim holds.
    public var claimedBy: String?
    public var claimedUntil: Int64?
    /// Set once Redis has the event (ms since 1970); such rows are pruned after the retention window.
    public var publishedAt: Int64?
    /// The `run_id` of the Redis server that took the event: see ``OutboxRelay`` on Redis restarts.
    public var publishedTo: String?

    public init(_ event: OutgoingEvent) {
        stream = event.stream
        eventId = event.envelope.id
        type = event.envelope.type
        key = event.envelope.key
        occurredAt = event.envelope.occurredAt
        correlationId = event.envelope.correlationId
        causationId = event.envelope.causationId
        data = event.envelope.data
    }

    public var event: OutgoingEvent {
        OutgoingEvent(
            stream: stream,
            envelope: EventEnvelope(
                id: eventId, type: type, key: key, occurredAt: occurredAt,
                correlationId: correlationId, causationId: causationId, data: data))
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        sequence = inserted.rowID
    }
}

extension EventEnvelope {
    /// Rebuilds an envelope from stored fields without re-formatting the timestamp.
    init(id: String, type: String, key: String, occurredAt: String, correlationId: String, causationId: String, data: String) {
        self.id = id
        self.type = type
        self.key = key
        self.occurredAt = occurredAt
        self.correlationId = correlationId
        self.causationId = causationId
        self.data = data
    }
}
