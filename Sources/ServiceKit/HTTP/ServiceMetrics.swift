import Hummingbird
import Metrics
import Prometheus

/// The process's metrics: swift-metrics bootstrapped with a Prometheus registry, served by every
/// service at `GET /metrics` in the Prometheus text format.
///
/// Bootstrapping is once per process and must come before any metric is created (a metric created
/// earlier stays a no-op), so `bookdelivery` calls ``bootstrap()`` first thing.
public enum ServiceMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Bootstraps swift-metrics into ``registry``; later calls do nothing.
    public static func bootstrap() {
        _ = registry
    }

    public static func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.middlewares.add(MetricsMiddleware())
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
