import Bus
import Hummingbird

/// The router every service starts from: JSON errors, `GET /metrics` (Prometheus), and
/// `GET /health`, which also says what this process's consumer and outbox relay are doing (so an
/// operator, or the fault harness, sees each consumer's share and any backlog).
public func makeServiceRouter(service: String, health: HealthSources = HealthSources()) -> Router<BasicRequestContext> {
    ServiceMetrics.bootstrap()
    let router = Router(context: BasicRequestContext.self)
    ServiceMetrics.addRoutes(to: router)
    router.middlewares.add(JSONErrorMiddleware())
    router.get("/health") { _, _ in await health.report(service: service) }
    return router
}

/// Where `/health` takes its figures from; each part is optional (a test router has none).
public struct HealthSources: Sendable {
    public var consumer: String?
    public var stats: ConsumerStats?
    public var relay: OutboxRelay?

    public init(consumer: String? = nil, stats: ConsumerStats? = nil, relay: OutboxRelay? = nil) {
        self.consumer = consumer
        self.stats = stats
        self.relay = relay
    }

    func report(service: String) async -> Health {
        Health(service: service, status: "ok", consumer: consumer, events: stats?.snapshot, outboxBacklog: try? await relay?.backlog())
    }
}

/// The body of `GET /health`.
public struct Health: ResponseCodable, Equatable, Sendable {
    public var service: String
    public var status: String
    public var consumer: String?
    public var events: ConsumerStats.Snapshot?
    /// Events committed but not yet on their stream; nil for a service without an outbox.
    public var outboxBacklog: Int?
}
