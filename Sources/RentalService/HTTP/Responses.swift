import Contracts
import Hummingbird

/// A book as the API shows it.
public struct BookResponse: ResponseCodable, Equatable, Sendable {
    public var id: String
    public var title: String
    public var author: String
    public var copies: Int
    public var available: Int
    public var createdAt: String

    init(_ book: Book) {
        (id, title, author, copies, available, createdAt) = (book.id, book.title, book.author, book.copies, book.available, book.createdAt)
    }
}

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
