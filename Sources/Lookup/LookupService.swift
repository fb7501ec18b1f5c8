import Bus
import Hummingbird
import ServiceKit

/// Lookup: the customers' read views (CQRS), on port 8083. Fed by events only: it never calls
/// another service nor reads another service's database.
public enum LookupService {
    public static let name = "lookup"
    public static let defaultPort = 8083

    public static func buildRouter(views: RentalViewStore, options: ServiceOptions? = nil, stats: ConsumerStats? = nil) -> Router<BasicRequestContext> {
        let router = makeServiceRouter(service: name, consumer: options?.consumerName, stats: stats)
        ViewsController(views: views).addRoutes(to: router)
        return router
    }

    public static func viewStore(options: ServiceOptions) -> RentalViewStore {
        RentalViewStore(pool: RedisClientPool(endpoint: options.redis, size: 4, name: "views", logger: options.logger))
    }

    /// The whole service: HTTP and the consumer of both streams.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        let views = viewStore(options: options)
        let handler = ViewEventsHandler(views: views)
        let stats = ConsumerStats(group: ViewEventsHandler.group)
        return ServiceRuntime.application(
            router: buildRouter(views: views, options: options, stats: stats), options: options, name: name,
            services: [ServiceRuntime.consumer(group: ViewEventsHandler.group, streams: Streams.all, options: options, stats: stats, batchHandler: handler.handle)])
    }

    /// `bookdelivery lookup --rebuild`.
    public static func rebuild(options: ServiceOptions) async throws -> Int {
        try await viewStore(options: options).rebuild(streams: Streams.all)
    }
}
