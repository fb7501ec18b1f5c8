/// A book was added to the catalogue: Notifier sends a promotion.
public struct BookRegistered: DomainEvent {
    public static let type = "BookRegistered"
    public static let stream = Streams.rental
    public var bookId: String
    public var title: String
    public var author: String
    public var copies: Int
    public var key: String { bookId }

    public init(bookId: String, title: String, author: String, copies: Int) {
        self.bookId = bookId
        self.title = title
        self.author = author
        self.copies = copies
    }
}

/// A customer ordered a book; a copy is reserved. Starts the saga: Delivery schedules a delivery.
public struct RentalOrdered: SagaEvent {
    public static let type = "RentalOrdered"
    public static let stream = Streams.rental
    public static let rentalStatus: RentalStatus? = .ordered
    public static let deliveryStatus: DeliveryStatus? = nil
    public var rentalId: String
    public var customerId: String
    public var bookId: String
    public var bookTitle: String
    public var address: String
    public var key: String { rentalId }

    public init(rentalId: String, customerId: String, bookId: String, bookTitle: String, address: String) {
        self.rentalId = rentalId
        self.customerId = customerId
        self.bookId = bookId
        self.bookTitle = bookTitle
        self.address = address
    }
}

/// The facts a follow-up rental event carries: which rental, whose, of which book.
public struct RentalFacts: Codable, Sendable, Equatable {
    public var rentalId: String
    public var customerId: String
    public var bookId: String

    public init(rentalId: String, customerId: String, bookId: String) {
        self.rentalId = rentalId
        self.customerId = customerId
        self.bookId = bookId
    }
}

/// A rental event whose payload is ``RentalFacts``, keyed by the rental id.
public protocol RentalFactsEvent: FactsEvent, SagaEvent where Facts == RentalFacts {}

extension RentalFactsEvent {
    public static var stream: String { Streams.rental }
    public static var deliveryStatus: DeliveryStatus? { nil }
    public var key: String { facts.rentalId }
    public var rentalId: String { facts.rentalId }
    public var customerId: String { facts.customerId }
    public var bookId: String { facts.bookId }

    public init(rentalId: String, customerId: String, bookId: String) {
        self.init(facts: RentalFacts(rentalId: rentalId, customerId: customerId, bookId: bookId))
    }
}

/// The customer asked to cancel; Delivery answers with DeliveryCanceled or DeliveryCancelRejected.
public struct RentalCancelRequested: RentalFactsEvent {
    public static let type = "RentalCancelRequested"
    public static let rentalStatus: RentalStatus? = .cancelRequested
    public var facts: RentalFacts
    public init(facts: RentalFacts) { self.facts = facts }
}

/// The customer gave the book back; its copy is available again.
public struct RentalReturned: RentalFactsEvent {
    public static let type = "RentalReturned"
    public static let rentalStatus: RentalStatus? = .returned
    public var facts: RentalFacts
    public init(facts: RentalFacts) { self.facts = facts }
}
