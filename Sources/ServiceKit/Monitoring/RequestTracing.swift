import Hummingbird

/// Hummingbird's `TracingMiddleware` (a server span per request, continuing the caller's
/// `traceparent`) for every request but the probes' and the scrapes': `up`, Kubernetes, the
/// gateway's health checks and Prometheus ask those every few seconds, and their spans would bury
/// the customers' ones (and their cost, theirs).
public struct RequestTracingMiddleware<Context: RequestContext>: RouterMiddleware {
    private let tracing = TracingMiddleware<Context>()
    static var untraced: Set<String> { ["/live", "/ready", "/health", "/metrics"] }

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.untraced.contains(request.uri.path) { return try await next(request, context) }
        return try await tracing.handle(request, context: context, next: next)
    }
}
