import Bus
import Contracts
import Hummingbird
import Redis
import ServiceKit

/// Lookup: the customers' read views (CQRS), on port 8083. Fed by events only: it never calls
/// another service nor reads another service's database.
public enum LookupApplication: ServiceDefinition {
    public static let name = ServiceNames.lookup
    public static let summary = "Lookup: customers' rental views in Redis"
    public static let defaultPort = 8083

    public static func buildRouter(views: RentalViewStore, wiring: ServiceWiring) -> Router<ServiceRequestContext> {
        makeServiceRouter(service: name, wiring: wiring) {
            ViewsController(views: views).addRoutes(to: $0)
        }
    }

    /// The whole service: HTTP and the consumer of both streams.
    public static func buildApplication(options: ServiceOptions) throws -> some ApplicationProtocol {
        var runtime = ServiceRuntime(options: options)
        let views = RentalViewStore(pool: runtime.redisClientPool(size: 4))
        return runtime.application(
            name: name, consumes: Streams.all, storage: { try await views.ping() },
            // The consumer writes the views through its own connection, on whose thread it runs: each
            // batch's pipeline then runs inline, not a hop to another connection's thread and back.
            handler: { client in LookupEventHandler(views: RentalViewStore(pool: RedisClientPool(clients: [client]))).batchHandler },
            router: { buildRouter(views: views, wiring: $0) })
    }

    /// `bookdelivery lookup --rebuild`.
    public static func rebuild(options: ServiceOptions) async throws -> RentalViewStore.RebuildReport {
        let pool = RedisClientPool(endpoint: options.redis, size: 1, logger: options.logger)
        defer { pool.close() }
        return try await RentalViewStore(pool: pool).rebuild(streams: Streams.all)
    }
}
