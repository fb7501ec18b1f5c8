/// An event handed to a consumer's handler, with where it came from.
public struct ReceivedEvent: Sendable {
    public let envelope: EventEnvelope
    public let stream: String
    public let entryId: String
    /// How many times the group has delivered this entry, this delivery included.
    public let deliveries: Int

    public init(envelope: EventEnvelope, stream: String, entryId: String, deliveries: Int) {
        self.envelope = envelope
        self.stream = stream
        self.entryId = entryId
        self.deliveries = deliveries
    }
}
