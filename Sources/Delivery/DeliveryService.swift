import Bus
import Hummingbird
import ServiceKit

/// Delivery: one free delivery per rental, on port 8082.
public enum DeliveryService {
    public static let name = "delivery"
    public static let defaultPort = 8082

    public static func buildRouter(store: DeliveryStore, options: ServiceOptions? = nil, stats: ConsumerStats? = nil) -> Router<BasicRequestContext> {
        let router = makeServiceRouter(service: name, consumer: options?.consumerName, stats: stats)
        DeliveriesController(store: store).addRoutes(to: router.group("deliveries"))
        return router
    }

    /// The whole service: HTTP, the outbox relay, and the consumer of Rental's events.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try DeliveryStore.open(path: options.databasePath)
        let routes = RentalEventsHandler(store: store).routes
        let stats = ConsumerStats(group: RentalEventsHandler.group)
        return ServiceRuntime.application(
            router: buildRouter(store: store, options: options, stats: stats), options: options, name: name,
            services: [
                ServiceRuntime.outboxRelay(database: store.database, outbox: store.outbox, options: options),
                ServiceRuntime.consumer(group: RentalEventsHandler.group, streams: [Streams.rental], options: options, stats: stats, batchHandler: routes.batchHandler),
            ])
    }
}
