import GRDB
import Redis

/// A row of the `outbox` table: one event written in the same transaction as the state change
/// that produced it, waiting for the relay to put it on its stream, then kept for the retention
/// window so that what Redis loses can be published again. Written by ``Outbox/append(_:in:)`` and
/// the relay's statements (``OutboxTable``); read as records.
public struct OutboxRecord: Decodable, Sendable, Equatable, FetchableRecord, TableRecord {
    public static let databaseTableName = "outbox"

    /// Insertion order (the table's row id, so a row read back always has one); the relay
    /// publishes in this order.
    public var sequence: Int64
    public var stream: String
    public var eventId: String
    public var type: String
    public var key: String
    public var occurredAt: String
    public var correlationId: String
    public var causationId: String
    public var data: String
    /// The envelope's `requestId`; empty for none.
    public var requestId: String
    /// The W3C trace context of the event's `create` span (``MessageTrace``); empty when tracing was off.
    public var traceParent: String = ""
    public var traceState: String = ""
    /// The relay that is publishing the row, and until when (ms since 1970) its claim holds.
    public var claimedBy: String?
    public var claimedUntil: Int64?
    /// Set once Redis has the event (ms since 1970); such rows are pruned after the retention window.
    public var publishedAt: Int64?
    /// The entry id Redis gave the event: how the relay tells which events a Redis that lost data lacks.
    public var publishedId: String?
    /// Error replies so far, the last one, and when the row was set aside as one that can never go out.
    public var failures: Int
    public var lastError: String?
    public var setAsideAt: Int64?

    public var event: OutgoingEvent {
        OutgoingEvent(
            stream: stream,
            envelope: EventEnvelope(
                id: eventId, type: type, key: key, occurredAt: occurredAt,
                correlationId: correlationId, causationId: causationId, data: data, requestId: requestId, traceParent: traceParent,
                traceState: traceState))
    }

    /// The bytes the event takes on the wire, near enough: its fields' text.
    var size: Int {
        eventId.utf8.count + type.utf8.count + key.utf8.count + occurredAt.utf8.count + correlationId.utf8.count + causationId.utf8.count
            + data.utf8.count + requestId.utf8.count + traceParent.utf8.count + traceState.utf8.count
    }
}

extension EventEnvelope {
    /// Rebuilds an envelope from stored fields without re-formatting the timestamp.
    init(
        id: String, type: String, key: String, occurredAt: String, correlationId: String, causationId: String, data: String,
        requestId: String, traceParent: String = "", traceState: String = ""
    ) {
        self.traceParent = traceParent
        self.traceState = traceState
        self.id = id
        self.type = type
        self.key = key
        self.occurredAt = occurredAt
        self.correlationId = correlationId
        self.causationId = causationId
        self.data = data
        self.requestId = requestId
    }
}
