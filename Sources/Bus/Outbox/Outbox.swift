import GRDB

/// The transactional outbox: a service calls ``append(_:in:)`` inside the very transaction that
/// changes its state, so the events exist if and only if the change does. The ``OutboxRelay`` then
/// moves them to Redis.
public struct Outbox: Sendable {
    /// Woken after each commit that added events, so the relay publishes at once instead of polling.
    public let signal: WakeSignal

    public init(signal: WakeSignal = WakeSignal()) {
        self.signal = signal
    }

    public func append(_ events: [OutgoingEvent], in db: Database) throws {
        guard !events.isEmpty else { return }
        for event in events {
            let record = OutboxRecord(event)
            try record.insert(db)
        }
        let signal = self.signal
        db.afterNextTransaction(onCommit: { _ in signal.wake() })
    }

    public func append(_ event: OutgoingEvent, in db: Database) throws {
        try append([event], in: db)
    }
}
