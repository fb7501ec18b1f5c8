import Bus
import Hummingbird
import Identity

/// The router every service is built on: JSON errors, 405 with `Allow` for a known path asked with
/// another method, `GET /metrics` (Prometheus), and `GET /health`, which also says what this
/// process's consumer and outbox relay are doing (so an operator, or the fault harness, sees each
/// consumer's share and any backlog). `addRoutes` adds the service's own routes; every request
/// carries its verified caller (``AuthenticationMiddleware``), and each route says who may use it.
public func makeServiceRouter(
    service: String, authentication: Authentication, health: HealthSources = HealthSources(),
    addRoutes: (Router<ServiceRequestContext>) -> Void
) -> Router<ServiceRequestContext> {
    ServiceMetrics.bootstrap()
    let router = Router(context: ServiceRequestContext.self)
    ServiceMetrics.addRoutes(to: router)
    router.middlewares.add(JSONErrorMiddleware())
    let methodNotAllowed = MethodNotAllowedMiddleware<ServiceRequestContext>()
    router.middlewares.add(methodNotAllowed)
    router.middlewares.add(AuthenticationMiddleware(authentication))
    router.get("/health") { _, _ in await health.report(service: service) }
    addRoutes(router)
    methodNotAllowed.learn(router)
    return router
}

/// Where `/health` takes its figures from; each part is optional (a test router has none).
public struct HealthSources: Sendable {
    public var consumer: String?
    public var stats: ConsumerStats?
    public var relay: OutboxRelay?
    public var trimmer: StreamTrimmer?

    public init(consumer: String? = nil, stats: ConsumerStats? = nil, relay: OutboxRelay? = nil, trimmer: StreamTrimmer? = nil) {
        self.consumer = consumer
        self.stats = stats
        self.relay = relay
        self.trimmer = trimmer
    }

    func report(service: String) async -> Health {
        let outbox = try? await relay?.counts()
        return Health(
            service: service, status: "ok", consumer: consumer, events: stats?.snapshot, outboxBacklog: outbox?.backlog,
            outboxSetAside: outbox?.setAside, capTrimmed: trimmer?.capTrimmed.withLock { $0 })
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
    /// Events that can never be published (too large, refused): set aside with their error.
    public var outboxSetAside: Int?
    /// Entries the streams' hard cap removed since this process started, by stream: each one may
    /// have been unread by some group.
    public var capTrimmed: [String: Int]?
}
