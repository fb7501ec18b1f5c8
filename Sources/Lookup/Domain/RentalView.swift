import Hummingbird

/// What a customer sees of one rental: its status in Rental and its delivery's status, as far as
/// the events received so far tell.
public struct RentalView: Codable, Sendable, Equatable, ResponseEncodable {
    public var rentalId: String
    public var customerId: String
    public var bookId: String
    public var bookTitle: String
    public var status: String
    /// `pending` until Delivery has scheduled the delivery.
    public var deliveryStatus: String
    public var updatedAt: String

    /// Reads a view hash; nil when the hash is empty (no such rental).
    init?(hash: [String: String]) {
        guard let rentalId = hash["rentalId"] else { return nil }
        self.rentalId = rentalId
        customerId = hash["customerId"] ?? ""
        bookId = hash["bookId"] ?? ""
        bookTitle = hash["bookTitle"] ?? ""
        status = hash["status"] ?? "ordered"
        deliveryStatus = hash["deliveryStatus"] ?? "pending"
        updatedAt = hash["updatedAt"] ?? ""
    }
}
