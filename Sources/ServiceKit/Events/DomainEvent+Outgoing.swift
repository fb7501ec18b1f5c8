import Bus
import Contracts

extension DomainEvent {
    /// Wraps the event for the outbox; `cause` carries correlation and causation ids along the saga
    /// and the request id of the request that started it; without one, the request being handled
    /// gives its id (``RequestID/current``).
    public func outgoing(causedBy cause: EventEnvelope? = nil) throws -> OutgoingEvent {
        let envelope =
            if let cause {
                try EventEnvelope(type: Self.type, key: key, payload: self, causedBy: cause)
            } else {
                try EventEnvelope(type: Self.type, key: key, payload: self, requestId: RequestID.current ?? "")
            }
        return OutgoingEvent(stream: Self.stream, envelope: envelope)
    }
}
