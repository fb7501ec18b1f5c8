import Bus
import ServiceKit

/// Delivery's consumer of Rental's stream (group `delivery`): orders become deliveries, cancel
/// requests are answered.
struct RentalEventsHandler: Sendable {
    static let group = "delivery"
    let store: DeliveryStore

    var routes: EventRoutes {
        var routes = EventRoutes(group: Self.group, database: store.database)
        let store = self.store
        routes.on(RentalOrdered.self) { event, envelope, db in try store.schedule(event, causedBy: envelope, in: db) }
        routes.on(RentalCancelRequested.self) { event, envelope, db in try store.cancel(event, causedBy: envelope, in: db) }
        return routes
    }
}
