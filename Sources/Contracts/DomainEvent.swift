/// An event contract: the payload of one event type, shared by its producer and its consumers and
/// kept apart from either side's internal records. Its JSON is the `data` field of a stream entry.
public protocol DomainEvent: Codable, Sendable, Equatable {
    static var type: String { get }
    static var stream: String { get }
    /// The aggregate id: the rental id for rental and delivery events, the book id for books.
    var key: String { get }
}

/// An event that moves a rental along its saga. Rental, Lookup and the fault harness all take the
/// statuses an event leads to from here, so the saga's rules are written once.
public protocol SagaEvent: DomainEvent {
    /// The status the rental reaches with this event; nil when the event does not change it.
    static var rentalStatus: RentalStatus? { get }
    /// The status the rental's delivery reaches with this event; nil when it does not change it.
    static var deliveryStatus: DeliveryStatus? { get }
    var rentalId: String { get }
    var customerId: String { get }
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
