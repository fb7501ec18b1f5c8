import Bus
import Contracts
import ServiceKit

/// The routes of Delivery's consumer of Rental's stream (group `delivery`): orders become
/// deliveries, cancel requests are answered.
struct DeliveryEventHandler: Sendable {
    let store: DeliveryStore

    var routes: EventRoutes {
        var routes = EventRoutes(group: ConsumerGroups.delivery, database: store.database)
        let store = self.store
        routes.on(RentalOrdered.self) { event, envelope, db in try store.schedule(event, causedBy: envelope, in: db) }
        routes.on(RentalCancelRequested.self) { event, envelope, db in try store.cancel(event, causedBy: envelope, in: db) }
        return routes
    }

    /// What the consumer calls: ``routes``, a batch at a time.
    var batchHandler: StreamConsumer.BatchHandler { routes.batchHandler }
}
