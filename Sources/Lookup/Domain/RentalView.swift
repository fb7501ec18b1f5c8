import Contracts

/// What a customer sees of one rental: its status in Rental and its delivery's status, as far as
/// the events received so far tell.
public struct RentalView: Sendable, Equatable {
    public var rentalId: String
    public var customerId: String
    public var bookId: String
    public var bookTitle: String
    public var status: RentalStatus
    /// Nil until Delivery has scheduled the delivery.
    public var deliveryStatus: DeliveryStatus?
    public var updatedAt: String
}
