import Hummingbird

/// The router every service starts from: JSON errors and `GET /health`.
public func makeServiceRouter(service: String) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.middlewares.add(JSONErrorMiddleware())
    router.get("/health") { _, _ in Health(service: service, status: "ok") }
    return router
}

public struct Health: ResponseCodable, Equatable {
    public var service: String
    public var status: String
}
