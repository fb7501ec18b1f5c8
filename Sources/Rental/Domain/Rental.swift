import Contracts

/// A customer's order of one book, delivered free to `address`.
public struct Rental: Codable, Sendable, Equatable {
    public var id: String
    public var customerId: String
    public var bookId: String
    public var address: String
    public var status: RentalStatus
    public var createdAt: String
    public var updatedAt: String

    /// A cancel is accepted until the delivery starts; asking again is harmless.
    /// Returns whether the request is new (and so must be sent to Delivery).
    mutating func requestCancel() throws(RentalError) -> Bool {
        switch status {
        case .ordered:
            status = .cancelRequested
            return true
        case .cancelRequested, .canceled:
            return false
        case .delivering, .delivered, .returned:
            throw .cannotCancel(id, status)
        }
    }

    mutating func markReturned() throws(RentalError) {
        guard status == .delivered else { throw .cannotReturn(id, status) }
        status = .returned
    }

    /// Applies Delivery's news. Events may arrive late, twice or out of order, so the rental only
    /// moves to a later status in its lifecycle (``RentalStatus``) and ignores anything else.
    /// Returns whether the status changed and whether the reserved copy is to be released.
    mutating func advance(to next: RentalStatus) -> (changed: Bool, releasesCopy: Bool) {
        guard next > status else { return (false, false) }
        status = next
        return (true, next == .canceled)
    }
}
