import Bus
import Contracts
import Hummingbird
import Logging
import ServiceKit

/// Notifier: alerts for customers, on port 8084.
public enum NotifierApplication: ServiceDefinition {
    public static let name = ServiceNames.notifier
    public static let summary = "Notifier: alerts for customers"
    public static let defaultPort = 8084
    /// The event types Notifier makes an alert of.
    public static var alertTypes: [String] { NotifierEventHandler.types.map { $0.type } }

    public static func buildRouter(store: AlertStore, wiring: ServiceWiring) -> Router<ServiceRequestContext> {
        makeServiceRouter(service: name, wiring: wiring) {
            AlertsController(store: store).addRoutes(to: $0.group("alerts"))
        }
    }

    /// The whole service: HTTP and the consumer of both streams.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try AlertStore.open(path: options.databasePath, storage: options.storage)
        var runtime = ServiceRuntime(options: options)
        return runtime.application(
            name: name, consumes: Streams.all, database: store.database,
            handler: { _ in NotifierEventHandler(store: store, logger: options.logger).batchHandler },
            router: { buildRouter(store: store, wiring: $0) })
    }

    /// Catches a restored database up with the streams before the service serves (``StreamRecovery``).
    public static func recover(options: ServiceOptions) async throws -> RecoveryReport? {
        let store = try AlertStore.open(path: options.databasePath, storage: options.storage)
        return try await StreamRecovery.atStart(
            service: name,
            routes: RecoveryRoutes(
                ownStream: nil, consumed: NotifierEventHandler(store: store, logger: options.logger, logsAlerts: false).routes,
                consumedStreams: Streams.all),
            database: store.database, options: options)
    }
}
