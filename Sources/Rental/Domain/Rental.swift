import GRDB
import Hummingbird

/// Where a rental stands. Its saga:
/// `ordered` → `delivering` → `delivered` → `returned`, and
/// `ordered` → `cancel_requested` → `canceled`, or back to `delivering` when Delivery had already started.
public enum RentalStatus: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case ordered
    case cancelRequested = "cancel_requested"
    case canceled
    case delivering
    case delivered
    case returned
}

/// What Delivery reported about a rental's delivery.
public enum DeliveryOutcome: Sendable {
    case started, completed, canceled, cancelRejected
}

/// A customer's order of one book, delivered free to `address`.
public struct Rental: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord, ResponseEncodable {
    public static let databaseTableName = "rentals"

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

    /// Applies Delivery's news. Events may arrive late, twice or out of order, so each one only moves
    /// the rental forward from the states where it makes sense, and is ignored elsewhere.
    /// Returns whether the status changed and whether the reserved copy is to be released.
    mutating func apply(_ outcome: DeliveryOutcome) -> (changed: Bool, releasesCopy: Bool) {
        let before = status
        switch (outcome, status) {
        case (.started, .ordered), (.started, .cancelRequested), (.cancelRejected, .cancelRequested):
            status = .delivering
        case (.completed, .ordered), (.completed, .cancelRequested), (.completed, .delivering):
            status = .delivered
        case (.canceled, .ordered), (.canceled, .cancelRequested):
            status = .canceled
            return (true, true)
        default:
            break
        }
        return (status != before, false)
    }
}
