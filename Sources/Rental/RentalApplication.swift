import Bus
import Contracts
import Hummingbird
import ServiceKit

/// Rental: the book catalogue and the customers' rentals, on port 8081.
public enum RentalApplication: ServiceDefinition {
    public static let name = ServiceNames.rental
    public static let summary = "Rental: books and rentals"
    public static let defaultPort = 8081

    /// The HTTP routes over `store`; tests use it with `app.test(.router)`.
    public static func buildRouter(store: RentalStore, wiring: ServiceWiring) -> Router<ServiceRequestContext> {
        makeServiceRouter(service: name, wiring: wiring) {
            BooksController(store: store).addRoutes(to: $0.group("books"))
            RentalsController(store: store).addRoutes(to: $0.group("rentals"))
        }
    }

    /// The whole service: HTTP, the outbox relay, and the consumer of Delivery's events.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try RentalStore.open(path: options.databasePath, storage: options.storage)
        var runtime = ServiceRuntime(options: options)
        return runtime.application(
            name: name, consumes: [Streams.delivery], database: store.database, outbox: store.outbox,
            handler: { _ in RentalEventHandler(store: store).batchHandler }, router: { buildRouter(store: store, wiring: $0) })
    }

    /// Catches a restored database up with the streams before the service serves (``StreamRecovery``).
    public static func recover(options: ServiceOptions) async throws -> RecoveryReport? {
        let store = try RentalStore.open(path: options.databasePath, storage: options.storage)
        return try await StreamRecovery.atStart(
            service: name, routes: store.recoveryRoutes, database: store.database, options: options)
    }
}
