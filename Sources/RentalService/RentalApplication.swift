import Bus
import Contracts
import Hummingbird
import ServiceKit

/// Rental: the book catalogue and the customers' rentals, on port 8081.
public enum RentalApplication {
    public static let name = "rental"
    public static let defaultPort = 8081

    /// The HTTP routes over `store`; tests use it with `app.test(.router)`.
    public static func buildRouter(
        store: RentalStore, authentication: Authentication, health: HealthSources = HealthSources()
    ) -> Router<ServiceRequestContext> {
        makeServiceRouter(service: name, authentication: authentication, health: health) {
            BooksController(store: store).addRoutes(to: $0.group("books"))
            RentalsController(store: store).addRoutes(to: $0.group("rentals"))
        }
    }

    /// The whole service: HTTP, the outbox relay, and the consumer of Delivery's events.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try RentalStore.open(path: options.databasePath, storage: options.storage)
        var runtime = ServiceRuntime(options: options)
        let relay = runtime.outboxRelay(database: store.database, outbox: store.outbox, streams: [Streams.rental])
        let stats = ConsumerStats(group: ConsumerGroups.rental)
        runtime.consumer(
            group: ConsumerGroups.rental, streams: [Streams.delivery], stats: stats,
            batchHandler: DeliveryEventRoutes(store: store).routes.batchHandler)
        runtime.housekeeping(database: store.database)
        let trimmer = runtime.streamTrimmer()
        let health = HealthSources(
            consumer: options.consumerName, stats: stats, relay: relay, trimmer: trimmer,
            draining: options.readiness, storage: { try await store.database.read { try $0.execute(sql: "SELECT 1") } })
        return runtime.application(router: buildRouter(store: store, authentication: options.authentication, health: health), name: name)
    }
}
