import Bus
import Contracts
import Hummingbird
import Logging
import ServiceKit

/// Notifier: alerts for customers, on port 8084.
public enum NotifierApplication {
    public static let name = "notifier"
    public static let defaultPort = 8084
    /// The event types Notifier makes an alert of.
    public static var alertTypes: [String] { AlertEventRoutes.types.map { $0.type } }

    public static func buildRouter(
        store: AlertStore, authentication: Authentication, health: HealthSources = HealthSources()
    ) -> Router<ServiceRequestContext> {
        makeServiceRouter(service: name, authentication: authentication, health: health) {
            AlertsController(store: store).addRoutes(to: $0.group("alerts"))
        }
    }

    /// The whole service: HTTP and the consumer of both streams.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try AlertStore.open(path: options.databasePath, storage: options.storage)
        var runtime = ServiceRuntime(options: options)
        let stats = ConsumerStats(group: ConsumerGroups.notifier)
        runtime.consumer(
            group: ConsumerGroups.notifier, streams: Streams.all, stats: stats,
            batchHandler: AlertEventRoutes(store: store, logger: options.logger).routes.batchHandler)
        runtime.housekeeping(database: store.database)
        let trimmer = runtime.streamTrimmer()
        let health = HealthSources(
            consumer: options.consumerName, stats: stats, trimmer: trimmer,
            draining: options.readiness, storage: { try await store.database.read { try $0.execute(sql: "SELECT 1") } })
        return runtime.application(router: buildRouter(store: store, authentication: options.authentication, health: health), name: name)
    }
}
