import Bus
import Contracts
import Hummingbird
import Redis
import ServiceKit

/// Lookup: the customers' read views (CQRS), on port 8083. Fed by events only: it never calls
/// another service nor reads another service's database.
public enum LookupApplication {
    public static let name = "lookup"
    public static let defaultPort = 8083

    public static func buildRouter(
        views: RentalViewStore, authentication: Authentication, health: HealthSources = HealthSources()
    ) -> Router<ServiceRequestContext> {
        makeServiceRouter(service: name, authentication: authentication, health: health) {
            ViewsController(views: views).addRoutes(to: $0)
        }
    }

    /// The whole service: HTTP and the consumer of both streams.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        var runtime = ServiceRuntime(options: options)
        let views = RentalViewStore(pool: runtime.redisClientPool(size: 4))
        let stats = ConsumerStats(group: ConsumerGroups.lookup)
        // The consumer writes the views through its own connection, on whose thread it runs: each
        // batch's pipeline then runs inline, not a hop to another connection's thread and back.
        let consumerClient = runtime.redisClient()
        let applier = RentalViewStore(pool: RedisClientPool(clients: [consumerClient]))
        runtime.consumer(
            group: ConsumerGroups.lookup, streams: Streams.all, stats: stats, client: consumerClient,
            batchHandler: ViewEventHandler(views: applier).handle)
        let trimmer = runtime.streamTrimmer()
        let health = HealthSources(
            consumer: options.consumerName, stats: stats, trimmer: trimmer,
            draining: options.readiness, storage: { try await views.ping() })
        return runtime.application(router: buildRouter(views: views, authentication: options.authentication, health: health), name: name)
    }

    /// `bookdelivery lookup --rebuild`.
    public static func rebuild(options: ServiceOptions) async throws -> RentalViewStore.RebuildReport {
        let pool = RedisClientPool(endpoint: options.redis, size: 1, logger: options.logger)
        defer { pool.close() }
        return try await RentalViewStore(pool: pool).rebuild(streams: Streams.all)
    }
}
