import Contracts
import Hummingbird

/// A rental view as the API shows it: `deliveryStatus` is `pending` until the delivery is scheduled.
public struct RentalViewResponse: ResponseCodable, Equatable, Sendable {
    public var rentalId: String
    public var customerId: String
    public var bookId: String
    public var bookTitle: String
    public var status: RentalStatus
    public var deliveryStatus: String
    public var updatedAt: String

    init(_ view: RentalView) {
        (rentalId, customerId, bookId, bookTitle) = (view.rentalId, view.customerId, view.bookId, view.bookTitle)
        (status, deliveryStatus, updatedAt) = (view.status, view.deliveryStatus?.rawValue ?? "pending", view.updatedAt)
    }
}
