import Bus
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

    /// The update an event makes, or nil for events that don't concern rental views.
    static func from(_ envelope: EventEnvelope) throws -> ViewUpdate? {
        guard let eventType = EventCatalog.sagaEvent(ofType: envelope.type) else { return nil }
        return try update(eventType, envelope)
    }

    /// The statuses the contract gives `Event`, for the rental it names.
    private static func update<Event: SagaEvent>(_: Event.Type, _ envelope: EventEnvelope) throws -> ViewUpdate {
        let event = try envelope.payload(as: Event.self)
        var update = ViewUpdate(
            rentalId: event.rentalId, customerId: event.customerId, status: Event.rentalStatus,
            deliveryStatus: Event.deliveryStatus, occurredAt: envelope.occurredAt)
        if let order = event as? RentalOrdered {
            update.bookId = order.bookId
            update.bookTitle = order.bookTitle
            update.isOrder = true
        } else if let rentalEvent = event as? any RentalFactsEvent {
            update.bookId = rentalEvent.bookId
        }
        return update
    }
}
