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
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Every timer's buckets (an event's age, a request's time in a service or the gateway): fine
    /// below 10 ms, where they are when all is well, so that percentiles read from the buckets mean
    /// something (with swift-prometheus's default first bucket of 5 ms, a p99 of 3 ms read as 5);
    /// coarse above, up to what a consumer catching up sees.
    public static let durationBuckets: [Duration] =
        [
            250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 7000, 8000, 10_000, 12_500, 15_000, 20_000, 30_000,
            50_000,
        ]
        .map { Duration.microseconds($0) }
        + [100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000].map { Duration.milliseconds($0) }

    /// Bootstraps swift-metrics into ``registry``; later calls do nothing.
    public static func bootstrap() {
        _ = registry
    }

    /// `GET /metrics`, and the requests' metrics. `refresh` runs before each answer: it reads the
    /// figures that are taken at scrape time (``ScrapedGauges``).
    public static func addRoutes<Context: RequestContext>(
        to router: Router<Context>, httpMetrics: Bool = true, refresh: @escaping @Sendable () async -> Void = {}
    ) {
        if httpMetrics { router.middlewares.add(MetricsMiddleware()) }
        let process = ScrapedGauges(registry: registry)
        router.get("/metrics") { _, _ in
            ProcessMetrics.read(into: process)
            await refresh()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
