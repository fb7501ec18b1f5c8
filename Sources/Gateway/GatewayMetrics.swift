import Metrics
import Synchronization

/// What the gateway counts, for `GET /metrics`: requests by route and status, their latency,
/// rejections by reason, and each pool's breaker state and requests in flight.
enum GatewayMetrics {
    static func request(route: String, status: Int, duration: Duration) {
        Counter(label: "gateway_requests_total", dimensions: [("route", route), ("status", String(status))]).increment()
        Timer(label: "gateway_request_duration_seconds", dimensions: [("route", route)]).recordSeconds(duration / .seconds(1))
    }

    /// `reason`: unauthorized, rate_limited, load_shed, breaker_open, no_instance, timeout, upstream_failed.
    static func rejection(_ reason: String, pool: String) {
        Counter(label: "gateway_rejections_total", dimensions: [("reason", reason), ("pool", pool)]).increment()
        rejections.withLock { $0[Rejection(reason: reason, pool: pool), default: 0] += 1 }
    }

    struct Rejection: Hashable, Sendable {
        var reason: String
        var pool: String
    }

    /// The rejections since the process started, for the operator's page (the counters above are
    /// write-only through swift-metrics).
    static let rejections = Mutex<[Rejection: Int]>([:])

    /// Every rejection and fallback counter of `pool` at 0, so that a rule sees the first one as an
    /// increase (a counter that appears at 1 has no increase to show).
    static func start(pool: String) {
        let reasons = ["unauthorized", "rate_limited", "timeout", "upstream_failed"] + Forwarder.Rejection.allCases.map(\.rawValue)
        for reason in reasons {
            Counter(label: "gateway_rejections_total", dimensions: [("reason", reason), ("pool", pool)]).increment(by: 0)
        }
        for kind in ["stale_copy", "view_missing", "lookup_unavailable"] {
            Counter(label: "gateway_fallbacks_total", dimensions: [("kind", kind), ("pool", pool)]).increment(by: 0)
        }
    }

    static func fallback(_ kind: String, pool: String) {
        Counter(label: "gateway_fallbacks_total", dimensions: [("kind", kind), ("pool", pool)]).increment()
    }

    static func breakerState(_ state: CircuitBreaker.State, pool: String) {
        Gauge(label: "gateway_breaker_state", dimensions: [("pool", pool)]).record(state.gaugeValue)
    }
}
