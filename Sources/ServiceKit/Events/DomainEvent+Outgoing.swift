import Bus
import Contracts
import Foundation

extension DomainEvent {
    /// Wraps the event for the outbox; `cause` carries correlation and causation ids along the saga
    /// and the request id of the request that started it; without one, the request being handled
    /// gives its id (``RequestID/current``). `occurredAt` is the time the change was made, which the
    /// changed record keeps too: a recovery from the stream gives that record the same time.
    public func outgoing(causedBy cause: EventEnvelope? = nil, at occurredAt: Date = Date()) throws -> OutgoingEvent {
        let envelope =
            if let cause {
                try EventEnvelope(type: Self.type, key: key, payload: self, causedBy: cause, occurredAt: occurredAt)
            } else {
                try EventEnvelope(type: Self.type, key: key, payload: self, occurredAt: occurredAt, requestId: RequestID.current ?? "")
            }
        return OutgoingEvent(stream: Self.stream, envelope: envelope)
    }
}
