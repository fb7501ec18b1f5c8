import Contracts

/// The free delivery of one rental's book to the customer's address.
public struct Delivery: Codable, Sendable, Equatable {
    public var id: String
    public var rentalId: String
    public var customerId: String
    public var bookId: String
    /// Nil for a delivery made before titles were kept, or whose order has not arrived yet.
    public var bookTitle: String?
    public var address: String
    public var status: DeliveryStatus
    public var createdAt: String
    public var updatedAt: String

    /// Returns whether the delivery changed (starting twice is harmless).
    mutating func start() throws(DeliveryError) -> Bool {
        switch status {
        case .ready:
            status = .started
            return true
        case .started:
            return false
        case .canceled, .delivered:
            throw .cannotStart(id, status)
        }
    }

    /// Returns whether the delivery changed (completing twice is harmless).
    mutating func complete() throws(DeliveryError) -> Bool {
        switch status {
        case .started:
            status = .delivered
            return true
        case .delivered:
            return false
        case .ready, .canceled:
            throw .cannotComplete(id, status)
        }
    }

    /// The answer to a cancel request: canceled while still `ready`, rejected once under way.
    enum CancelAnswer { case canceled, rejected, alreadyCanceled }

    mutating func cancel() -> CancelAnswer {
        switch status {
        case .ready:
            status = .canceled
            return .canceled
        case .canceled:
            return .alreadyCanceled
        case .started, .delivered:
            return .rejected
        }
    }

    /// What every delivery event says about this delivery.
    var facts: DeliveryFacts { DeliveryFacts(deliveryId: id, rentalId: rentalId, customerId: customerId) }
}
