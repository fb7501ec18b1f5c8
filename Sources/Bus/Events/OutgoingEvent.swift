/// An event on its way to a stream.
public struct OutgoingEvent: Sendable, Equatable {
    public var stream: String
    public var envelope: EventEnvelope

    public init(stream: String, envelope: EventEnvelope) {
        self.stream = stream
        self.envelope = envelope
    }
}
