import Contracts
import Hummingbird

/// A delivery as the API shows it.
public struct DeliveryResponse: ResponseCodable, Equatable, Sendable {
    public var id: String
    public var rentalId: String
    public var customerId: String
    public var bookId: String
    /// Nil when unknown (a delivery older than the title's column).
    public var bookTitle: String?
    public var address: String
    public var status: DeliveryStatus
    public var createdAt: String
    public var updatedAt: String

    init(_ delivery: Delivery) {
        (id, rentalId, customerId, bookId, bookTitle, address) = (
            delivery.id, delivery.rentalId, delivery.customerId, delivery.bookId, delivery.bookTitle, delivery.address
        )
        (status, createdAt, updatedAt) = (delivery.status, delivery.createdAt, delivery.updatedAt)
    }
}
