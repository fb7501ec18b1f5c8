import GRDB
import Primitives
import Redis

/// The transactional outbox: a service calls ``append(_:in:)`` inside the very transaction that
/// changes its state, so the events exist if and only if the change does. The ``OutboxRelay`` then
/// moves them to Redis.
public struct Outbox: Sendable {
    /// Woken after each commit that added events, so the relay publishes at once instead of polling.
    public let signal: WakeSignal
    /// Gives the committed rows to this outbox's relay, once one is attached (``OutboxRelay``).
    let handoff: OutboxHandoff

    public init(signal: WakeSignal = WakeSignal()) {
        self.signal = signal
        self.handoff = OutboxHandoff(signal: signal)
    }

    /// Writes `events` in the transaction of `db`; each gets its `create` span and carries its
    /// context (``MessageTrace``) when tracing is on.
    public func append(_ events: [OutgoingEvent], in db: Database) throws {
        guard !events.isEmpty else { return }
        let events = MessageTrace.isEnabled ? events.map(MessageTrace.created) : events
        guard let claimant = handoff.claimant else {
            // No relay in this process: it is woken, should one wait, and claims the rows itself.
            for event in events { try Self.insert(event, claimedBy: nil, until: nil, in: db) }
            let signal = self.signal
            db.afterNextTransaction(onCommit: { _ in signal.wake() })
            return
        }
        // Claimed for this process's relay as they are written, and handed to it when they commit.
        let leaseEnd = Timestamp.milliseconds() + claimant.lease.milliseconds
        for event in events {
            try Self.insert(event, claimedBy: claimant.relay, until: leaseEnd, in: db)
            let envelope = event.envelope
            handoff.inserted(
                OutboxRecord(
                    sequence: db.lastInsertedRowID, stream: event.stream, eventId: envelope.id, type: envelope.type, key: envelope.key,
                    occurredAt: envelope.occurredAt, correlationId: envelope.correlationId, causationId: envelope.causationId,
                    data: envelope.data, requestId: envelope.requestId, traceParent: envelope.traceParent, traceState: envelope.traceState,
                    claimedBy: claimant.relay, claimedUntil: leaseEnd, failures: 0))
        }
    }

    public func append(_ event: OutgoingEvent, in db: Database) throws {
        try append([event], in: db)
    }

    private static func insert(_ event: OutgoingEvent, claimedBy relay: String?, until leaseEnd: Int64?, in db: Database) throws {
        let envelope = event.envelope
        try db.insertRow(
            into: OutboxRecord.databaseTableName,
            [
                "stream": event.stream, "eventId": envelope.id, "type": envelope.type, "key": envelope.key,
                "occurredAt": envelope.occurredAt, "correlationId": envelope.correlationId, "causationId": envelope.causationId,
                "data": envelope.data, "requestId": envelope.requestId, "traceParent": envelope.traceParent,
                "traceState": envelope.traceState, "claimedBy": relay, "claimedUntil": leaseEnd,
            ])
    }
}
