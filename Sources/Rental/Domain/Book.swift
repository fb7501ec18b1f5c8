/// A title in the catalogue and how many of its copies are not out with a customer.
public struct Book: Codable, Sendable, Equatable {
    public var id: String
    public var title: String
    public var author: String
    public var copies: Int
    /// Copies neither reserved by an open rental nor out for delivery or with a customer.
    public var available: Int
    public var createdAt: String

    /// The copies one registration may hold.
    public static let registrableCopies = 1...100_000
}
