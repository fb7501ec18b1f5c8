import Bus
import Contracts
import ServiceKit

/// The routes of Rental's consumer of Delivery's stream (group `rental`): delivery events move the
/// rental to the status the contract gives them.
struct RentalEventHandler: Sendable {
    let store: RentalStore

    var routes: EventRoutes {
        var routes = EventRoutes(group: ConsumerGroups.rental, database: store.database)
        let store = self.store
        func route<Event: DeliveryEvent>(_: Event.Type) {
            guard let status = Event.rentalStatus else { return }
            routes.on(Event.self) { event, envelope, db in
                try store.advance(rentalId: event.rentalId, to: status, at: envelope.occurredAt, in: db)
            }
        }
        route(DeliveryStarted.self)
        route(DeliveryCompleted.self)
        route(DeliveryCanceled.self)
        route(DeliveryCancelRejected.self)
        return routes
    }

    /// What the consumer calls: ``routes``, a batch at a time.
    var batchHandler: StreamConsumer.BatchHandler { routes.batchHandler }
}
