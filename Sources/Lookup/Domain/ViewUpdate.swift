import Contracts

/// What one event changes in a rental's view.
///
/// Events of one rental can arrive twice or out of order when several Lookup processes share the
/// work. Each status has a rank along its lifecycle (``RentalStatus/rank``,
/// ``DeliveryStatus/rank``) and the view only ever moves to a higher rank (the version guard), so
/// every arrival order converges to the same view.
struct ViewUpdate: Equatable, Sendable {
    var rentalId: String
    var customerId: String
    var bookId = ""
    var bookTitle = ""
    var status: RentalStatus?
    var deliveryStatus: DeliveryStatus?
    var occurredAt: String
    /// The order itself: its time orders the customer's list.
    var isOrder = false
}
