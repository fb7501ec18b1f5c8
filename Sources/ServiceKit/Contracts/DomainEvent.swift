import Bus

/// The streams of the system. Each service publishes to its own stream; consumer groups are named
/// after the consuming service.
public enum Streams {
    /// Written by Rental: BookRegistered, RentalOrdered, RentalCancelRequested, RentalReturned.
    public static let rental = "rental-events"
    /// Written by Delivery: DeliveryScheduled, DeliveryStarted, DeliveryCompleted, DeliveryCanceled, DeliveryCancelRejected.
    public static let delivery = "delivery-events"
    public static let all = [rental, delivery]
}

/// An event contract: the payload of one event type, shared by its producer and its consumers and
/// kept apart from either side's internal records.
public protocol DomainEvent: Codable, Sendable, Equatable {
    static var type: String { get }
    static var stream: String { get }
    /// The aggregate id: the rental id for rental and delivery events, the book id for books.
    var key: String { get }
}

/// An event type whose payload is a shared facts record: several event types of one saga step carry
/// the same facts, and their JSON is exactly those facts.
public protocol FactsEvent: DomainEvent {
    associatedtype Facts: Codable & Sendable & Equatable
    var facts: Facts { get }
    init(facts: Facts)
}

extension FactsEvent {
    public init(from decoder: any Decoder) throws { self.init(facts: try Facts(from: decoder)) }
    public func encode(to encoder: any Encoder) throws { try facts.encode(to: encoder) }
}

extension DomainEvent {
    /// Wraps the event for the outbox; `cause` carries correlation and causation ids along the saga.
    public func outgoing(causedBy cause: EventEnvelope? = nil) throws -> OutgoingEvent {
        let envelope = if let cause {
            try EventEnvelope(type: Self.type, key: key, payload: self, causedBy: cause)
        } else {
            try EventEnvelope(type: Self.type, key: key, payload: self)
        }
        return OutgoingEvent(stream: Self.stream, envelope: envelope)
    }
}

extension EventEnvelope {
    /// The payload as `Event` when this envelope is of that type, else nil.
    public func event<Event: DomainEvent>(_: Event.Type) throws -> Event? {
        guard type == Event.type else { return nil }
        return try payload(as: Event.self)
    }
}
