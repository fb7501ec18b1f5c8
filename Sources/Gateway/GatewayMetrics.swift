import Metrics
import ServiceKit
import Synchronization

/// What the gateway counts, for `GET /metrics`: requests by route and status, their latency,
/// rejections by reason, and each pool's breaker state and requests in flight.
enum GatewayMetrics {
    static func request(route: String, status: Int, duration: Duration) {
        let (counter, timer) = requestMetrics.withLock { made in
            let key = RouteStatus(route: route, status: status)
            if let known = made[key] { return known }
            let new = (
                Counter(label: "gateway_requests_total", dimensions: [("route", route), ("status", String(status))]),
                Timer(label: "gateway_request_duration_seconds", dimensions: [("route", route)])
            )
            made[key] = new
            return new
        }
        counter.increment()
        timer.recordSeconds(duration / .seconds(1))
    }

    private struct RouteStatus: Hashable {
        var route: String
        var status: Int
    }

    /// Each route and status's metrics, made once: asking swift-metrics' factory for them on every
    /// request (it builds and looks up their labels under a lock) was 1.4 % of the gateway's CPU.
    /// Routes and statuses are few (the route table's names, "unmatched", HTTP statuses).
    private static let requestMetrics = Mutex<[RouteStatus: (Counter, Timer)]>([:])

    /// `reason`: unauthorized, rate_limited, load_shed, breaker_open, no_instance, timeout, upstream_failed,
    /// gateway_busy (its own event loop too busy, ``LoopPressure``).
    static func rejection(_ reason: String, pool: String) {
        let counter = rejections.withLock { counts in
            let key = Rejection(reason: reason, pool: pool)
            counts[key, default: Rejections(counter: rejectionCounter(key))].count += 1
            return counts[key]!.counter
        }
        counter.increment()
    }

    private static func rejectionCounter(_ key: Rejection) -> Counter {
        Counter(label: "gateway_rejections_total", dimensions: [("reason", key.reason), ("pool", key.pool)])
    }

    struct Rejection: Hashable, Sendable {
        var reason: String
        var pool: String
    }

    /// How many since the process started, for the operator's page (swift-metrics' counters are
    /// write-only), and the counter, made once: under overload most answers are rejections, and
    /// asking the factory for the counter each time builds and looks up its labels under a lock.
    struct Rejections: Sendable {
        var counter: Counter
        var count = 0
    }

    static let rejections = Mutex<[Rejection: Rejections]>([:])

    /// Every rejection and fallback counter of `pool` at 0, so that a rule sees the first one as an
    /// increase (a counter that appears at 1 has no increase to show).
    static func start(pool: String) {
        let reasons =
            ["unauthorized", "rate_limited", "timeout", "upstream_failed", "gateway_busy"] + Forwarder.Rejection.allCases.map(\.rawValue)
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

    /// Each pool's adaptive concurrency limit, requests in flight and waiting for a slot, the no-load
    /// latency the limit is learnt against (once probed) and its probes so far, taken and refused,
    /// read at each scrape.
    static func readPools(_ pools: [Upstream: InstancePool], into gauges: ScrapedGauges) {
        let probes = "gateway_limit_probes_total"
        gauges.replace(
            [probes],
            with: pools.flatMap { upstream, pool in
                let (taken, refused) = pool.limiter.probes
                return [("taken", taken), ("refused", refused)].map { outcome, count in
                    ScrapedGauges.Sample(probes, [("pool", upstream.rawValue), ("outcome", outcome)], Double(count))
                }
            })
        for (upstream, pool) in pools {
            Gauge(label: "gateway_concurrency_limit", dimensions: [("pool", upstream.rawValue)]).record(pool.limiter.limit)
            Gauge(label: "gateway_in_flight_requests", dimensions: [("pool", upstream.rawValue)]).record(pool.limiter.inFlight)
            Gauge(label: "gateway_waiting_requests", dimensions: [("pool", upstream.rawValue)]).record(pool.limiter.waiting)
            if let noLoad = pool.limiter.noLoadLatency {
                Gauge(label: "gateway_no_load_latency_seconds", dimensions: [("pool", upstream.rawValue)]).record(noLoad)
            }
        }
    }

    /// How busy each of the gateway's event loops has been (its thread's time run or waiting for a
    /// core, ``LoopPressure/demandSeconds``: `rate()` of it is the loop's demand), read at each
    /// scrape into `gauges` as `process_cpu_seconds_total` is, and the share of the API each turns
    /// away now.
    static func readLoops(_ pressures: [LoopPressure], into gauges: ScrapedGauges) {
        let name = "gateway_event_loop_demand_seconds_total"
        gauges.replace(
            [name],
            with: pressures.enumerated().compactMap { index, pressure in
                pressure.demandSeconds.map { ScrapedGauges.Sample(name, [("loop", String(index))], $0) }
            })
        for (index, pressure) in pressures.enumerated() {
            Gauge(label: "gateway_event_loop_turned_away_ratio", dimensions: [("loop", String(index))]).record(pressure.share)
        }
    }

    static func breakerState(_ state: CircuitBreaker.State, pool: String) {
        Gauge(label: "gateway_breaker_state", dimensions: [("pool", pool)]).record(state.gaugeValue)
    }
}
