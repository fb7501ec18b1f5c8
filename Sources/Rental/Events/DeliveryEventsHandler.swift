import Bus
import ServiceKit

/// Rental's consumer of Delivery's stream (group `rental`): turns delivery events into rental status.
struct DeliveryEventsHandler: Sendable {
    static let group = "rental"
    let store: RentalStore

    var routes: EventRoutes {
        var routes = EventRoutes(group: Self.group, database: store.database)
        let store = self.store
        func route<Event: DeliveryEvent>(_ type: Event.Type, _ outcome: DeliveryOutcome) {
            routes.on(type) { event, _, db in try store.apply(outcome, rentalId: event.facts.rentalId, in: db) }
        }
        route(DeliveryStarted.self, .started)
        route(DeliveryCompleted.self, .completed)
        route(DeliveryCanceled.self, .canceled)
        route(DeliveryCancelRejected.self, .cancelRejected)
        return routes
    }
}
