import Tracing

/// An event handed to a consumer's handler, with where it came from.
public struct ReceivedEvent: Sendable {
    public let envelope: EventEnvelope
    public let stream: String
    public let entryId: String
    /// Which attempt of the group at this entry this is: 1 the first time, more after failures or
    /// a takeover from a crashed consumer.
    public let attempt: Int
    /// The context of this event's `process` span (``MessageTrace``): a handler binds it
    /// (`ServiceContext.$current.withValue`) while it handles this event, so that its own spans and
    /// the events it commits belong to the event's trace. Nil when tracing is off.
    public let traceContext: ServiceContext?

    public init(envelope: EventEnvelope, stream: String, entryId: String, attempt: Int, traceContext: ServiceContext? = nil) {
        self.traceContext = traceContext
        self.envelope = envelope
        self.stream = stream
        self.entryId = entryId
        self.attempt = attempt
    }
}
