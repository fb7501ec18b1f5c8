import Contracts
import Hummingbird

/// A rental as the API shows it.
public struct RentalResponse: ResponseCodable, Equatable, Sendable {
    public var id: String
    public var customerId: String
    public var bookId: String
    public var address: String
    public var status: RentalStatus
    public var createdAt: String
    public var updatedAt: String

    init(_ rental: Rental) {
        (id, customerId, bookId, address) = (rental.id, rental.customerId, rental.bookId, rental.address)
        (status, createdAt, updatedAt) = (rental.status, rental.createdAt, rental.updatedAt)
    }
}
