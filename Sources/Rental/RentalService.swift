import Bus
import Hummingbird
import ServiceKit

/// Rental: the book catalogue and the customers' rentals, on port 8081.
public enum RentalService {
    public static let name = "rental"
    public static let defaultPort = 8081

    /// The HTTP routes over `store`; tests use it with `app.test(.router)`.
    public static func buildRouter(store: RentalStore, options: ServiceOptions? = nil, stats: ConsumerStats? = nil) -> Router<BasicRequestContext> {
        let router = makeServiceRouter(service: name, consumer: options?.consumerName, stats: stats)
        BooksController(store: store).addRoutes(to: router.group("books"))
        RentalsController(store: store).addRoutes(to: router.group("rentals"))
        return router
    }

    /// The whole service: HTTP, the outbox relay, and the consumer of Delivery's events.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try RentalStore.open(path: options.databasePath)
        let routes = DeliveryEventsHandler(store: store).routes
        let stats = ConsumerStats(group: DeliveryEventsHandler.group)
        return ServiceRuntime.application(
            router: buildRouter(store: store, options: options, stats: stats), options: options, name: name,
            services: [
                ServiceRuntime.outboxRelay(database: store.database, outbox: store.outbox, options: options),
                ServiceRuntime.consumer(group: DeliveryEventsHandler.group, streams: [Streams.delivery], options: options, stats: stats, batchHandler: routes.batchHandler),
            ])
    }
}
