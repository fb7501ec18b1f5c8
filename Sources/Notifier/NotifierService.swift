import Bus
import Hummingbird
import ServiceKit

/// Notifier: alerts for customers, on port 8084.
public enum NotifierService {
    public static let name = "notifier"
    public static let defaultPort = 8084

    public static func buildRouter(store: AlertStore, options: ServiceOptions? = nil, stats: ConsumerStats? = nil) -> Router<BasicRequestContext> {
        let router = makeServiceRouter(service: name, consumer: options?.consumerName, stats: stats)
        AlertsController(store: store).addRoutes(to: router.group("alerts"))
        return router
    }

    /// The whole service: HTTP and the consumer of both streams.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let store = try AlertStore.open(path: options.databasePath)
        let routes = AlertEventsHandler(store: store, logger: options.logger).routes
        let stats = ConsumerStats(group: AlertEventsHandler.group)
        return ServiceRuntime.application(
            router: buildRouter(store: store, options: options, stats: stats), options: options, name: name,
            services: [ServiceRuntime.consumer(group: AlertEventsHandler.group, streams: Streams.all, options: options, stats: stats, batchHandler: routes.batchHandler)])
    }
}
