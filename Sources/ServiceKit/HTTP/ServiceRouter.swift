import Bus
import Hummingbird

/// The router every service starts from: JSON errors, `GET /metrics` (Prometheus), and
/// `GET /health`, which also says what this process's consumer has done (so an operator, or the
/// fault harness, sees each consumer's share).
public func makeServiceRouter(service: String, consumer: String? = nil, stats: ConsumerStats? = nil) -> Router<BasicRequestContext> {
    ServiceMetrics.bootstrap()
    let router = Router(context: BasicRequestContext.self)
    ServiceMetrics.addRoutes(to: router)
    router.middlewares.add(JSONErrorMiddleware())
    router.get("/health") { _, _ in Health(service: service, status: "ok", consumer: consumer, events: stats?.snapshot) }
    return router
}

public struct Health: ResponseCodable, Equatable {
    public var service: String
    public var status: String
    public var consumer: String?
    public var events: ConsumerStats.Snapshot?
}
