/// An event handed to a consumer's handler, with where it came from.
public struct ReceivedEvent: Sendable {
    public let envelope: EventEnvelope
    public let stream: String
    public let entryId: String
    /// Which attempt of the group at this entry this is: 1 the first time, more after failures or
    /// a takeover from a crashed consumer.
    public let attempt: Int

    public init(envelope: EventEnvelope, stream: String, entryId: String, attempt: Int) {
        self.envelope = envelope
        self.stream = stream
        self.entryId = entryId
        self.attempt = attempt
    }
}
