import Bus
import Contracts

/// How an event, as it arrives from a stream, becomes the update of a rental's view.
extension ViewUpdate {
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
