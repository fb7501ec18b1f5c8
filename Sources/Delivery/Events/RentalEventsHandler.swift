import Bus
import ServiceKit

/// Delivery's consumer of Rental's stream (group `delivery`): orders become deliveries, cancel
/// requests are answered.
struct RentalEventsHandler: Sendable {
    static let group = "delivery"
    let store: DeliveryStore

    var routes: EventRoutes {
        var routes = EventRoutes()
        let store = self.store
        routes.on(RentalOrdered.self) { event, envelope in try await store.schedule(event, envelope: envelope, handler: Self.group) }
        routes.on(RentalCancelRequested.self) { event, envelope in try await store.cancel(event, envelope: envelope, handler: Self.group) }
        return routes
    }
}
