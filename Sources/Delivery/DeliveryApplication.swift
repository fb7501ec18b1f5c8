import Bus
import Contracts
import Hummingbird
import ServiceKit

/// Delivery: one free delivery per rental, on port 8082.
public enum DeliveryApplication: ServiceDefinition {
    public static let name = ServiceNames.delivery
    public static let summary = "Delivery: one delivery per rental"
    public static let defaultPort = 8082

    public static func buildRouter(store: DeliveryStore, wiring: ServiceWiring) -> Router<ServiceRequestContext> {
        makeServiceRouter(service: name, wiring: wiring) {
            DeliveriesController(store: store).addRoutes(to: $0.group("deliveries"))
        }
    }

    /// The whole service: HTTP, the outbox relay, and the consumer of Rental's events.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try DeliveryStore.open(path: options.databasePath, storage: options.storage)
        var runtime = ServiceRuntime(options: options)
        return runtime.application(
            name: name, consumes: [Streams.rental], database: store.database, outbox: store.outbox,
            handler: { _ in DeliveryEventHandler(store: store).batchHandler }, router: { buildRouter(store: store, wiring: $0) })
    }

    /// Catches a restored database up with the streams before the service serves (``StreamRecovery``).
    public static func recover(options: ServiceOptions) async throws -> RecoveryReport? {
        let store = try DeliveryStore.open(path: options.databasePath, storage: options.storage)
        return try await StreamRecovery.atStart(
            service: name, routes: store.recoveryRoutes, database: store.database, options: options)
    }
}
