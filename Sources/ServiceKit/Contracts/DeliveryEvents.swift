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
public protocol DeliveryEvent: FactsEvent where Facts == DeliveryFacts {}

extension DeliveryEvent {
    public static var stream: String { Streams.delivery }
    public var key: String { facts.rentalId }
}

/// Delivery created a delivery, `ready`, for a new rental.
public struct DeliveryScheduled: DeliveryEvent {
    public static let type = "DeliveryScheduled"
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// The courier left with the book: the rental can no longer be canceled.
public struct DeliveryStarted: DeliveryEvent {
    public static let type = "DeliveryStarted"
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// The book reached the customer.
public struct DeliveryCompleted: DeliveryEvent {
    public static let type = "DeliveryCompleted"
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// The delivery was called off before it started, on the customer's cancel request.
public struct DeliveryCanceled: DeliveryEvent {
    public static let type = "DeliveryCanceled"
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}

/// The cancel request came too late, the delivery had started: Rental compensates back to `delivering`.
public struct DeliveryCancelRejected: DeliveryEvent {
    public static let type = "DeliveryCancelRejected"
    public var facts: DeliveryFacts
    public init(facts: DeliveryFacts) { self.facts = facts }
}
