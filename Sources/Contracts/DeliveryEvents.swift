/// The facts every delivery event carries: which delivery, of which rental, for whom.
public struct DeliveryFacts: Codable, Sendable, Equatable {
    public var deliveryId: String
    public var rentalId: String
    public var customerId: String

    public init(deliveryId: String, rentalId: String, customerId: String) {
        self.deliveryId = deliveryId
        self.rentalId = rentalId
        self.customerId = customerId
    }
}

/// A delivery event: its payload is ``DeliveryFacts``, keyed by the rental id.
public protocol DeliveryEvent: FactsEvent, SagaEvent where Facts == DeliveryFacts {}

extension DeliveryEvent {
    public static var stream: String { Streams.delivery }
    public var key: String { facts.rentalId }
    public var rentalId: String { facts.rentalId }
    public var customerId: String { facts.customerId }
}

/// Delivery created a delivery, `ready`, for a new rental.
public struct DeliveryScheduled: DeliveryEvent {
    public static let type = "DeliveryScheduled"
    public static let rentalStatus: RentalStatus? = nil
    public static let deliveryStatus: DeliveryStatus? = .ready
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// The courier left with the book: the rental can no longer be canceled.
public struct DeliveryStarted: DeliveryEvent {
    public static let type = "DeliveryStarted"
    public static let rentalStatus: RentalStatus? = .delivering
    public static let deliveryStatus: DeliveryStatus? = .started
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// The book reached the customer.
public struct DeliveryCompleted: DeliveryEvent {
    public static let type = "DeliveryCompleted"
    public static let rentalStatus: RentalStatus? = .delivered
    public static let deliveryStatus: DeliveryStatus? = .delivered
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// The delivery was called off before it started, on the customer's cancel request.
public struct DeliveryCanceled: DeliveryEvent {
    public static let type = "DeliveryCanceled"
    public static let rentalStatus: RentalStatus? = .canceled
    public static let deliveryStatus: DeliveryStatus? = .canceled
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// The cancel request came too late, the delivery had started: Rental compensates back to `delivering`.
public struct DeliveryCancelRejected: DeliveryEvent {
    public static let type = "DeliveryCancelRejected"
    public static let rentalStatus: RentalStatus? = .delivering
    public static let deliveryStatus: DeliveryStatus? = nil
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// Every event type, for whatever has to list them (the contract document, the fault harness).
public enum EventCatalog {
    public static let sagaEvents: [any SagaEvent.Type] = [
        RentalOrdered.self, RentalCancelRequested.self, RentalReturned.self,
        DeliveryScheduled.self, DeliveryStarted.self, DeliveryCompleted.self, DeliveryCanceled.self,
        DeliveryCancelRejected.self,
    ]
}

extension EventCatalog {
    private static let sagaEventsByType = Dictionary(uniqueKeysWithValues: sagaEvents.map { ($0.type, $0) })

    /// The saga event type named `type`, or nil for any other event.
    public static func sagaEvent(ofType type: String) -> (any SagaEvent.Type)? { sagaEventsByType[type] }
}
