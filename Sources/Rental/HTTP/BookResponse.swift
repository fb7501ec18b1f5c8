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
