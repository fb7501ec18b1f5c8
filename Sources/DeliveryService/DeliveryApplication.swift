import Bus
import Contracts
import Hummingbird
import ServiceKit

/// Delivery: one free delivery per rental, on port 8082.
public enum DeliveryApplication {
    public static let name = "delivery"
    public static let defaultPort = 8082

    public static func buildRouter(
        store: DeliveryStore, authentication: Authentication, health: HealthSources = HealthSources()
    ) -> Router<ServiceRequestContext> {
        makeServiceRouter(service: name, authentication: authentication, health: health) {
            DeliveriesController(store: store).addRoutes(to: $0.group("deliveries"))
        }
    }

    /// The whole service: HTTP, the outbox relay, and the consumer of Rental's events.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try DeliveryStore.open(path: options.databasePath, storage: options.storage)
        var runtime = ServiceRuntime(options: options)
        let relay = runtime.outboxRelay(database: store.database, outbox: store.outbox, streams: [Streams.delivery])
        let stats = ConsumerStats(group: ConsumerGroups.delivery)
        runtime.consumer(
            group: ConsumerGroups.delivery, streams: [Streams.rental], stats: stats,
            batchHandler: RentalEventRoutes(store: store).routes.batchHandler)
        runtime.housekeeping(database: store.database)
        let trimmer = runtime.streamTrimmer()
        let health = HealthSources(
            consumer: options.consumerName, stats: stats, relay: relay, trimmer: trimmer,
            draining: options.readiness, storage: { try await store.database.read { try $0.execute(sql: "SELECT 1") } })
        return runtime.application(router: buildRouter(store: store, authentication: options.authentication, health: health), name: name)
    }
}
