import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceKit
import ServiceLifecycle

/// The gateway: the one public entry point, on port 8080.
public enum GatewayApplication {
    public static let name = "gateway"
    public static let defaultPort = 8080

    /// The pools, each with its breaker and load shedder.
    static func makePools(_ configuration: GatewayConfiguration) -> [Upstream: InstancePool] {
        var pools: [Upstream: InstancePool] = [:]
        for upstream in Upstream.allCases {
            let name = upstream.rawValue
            GatewayMetrics.breakerState(.closed, pool: name)
            let breaker = CircuitBreaker(settings: configuration.breaker) { state in
                configuration.logger.warning("circuit breaker \(state.rawValue)", metadata: ["pool": "\(name)"])
                GatewayMetrics.breakerState(state, pool: name)
            }
            pools[upstream] = InstancePool(
                upstream: upstream, instances: configuration.pools[upstream] ?? [], breaker: breaker,
                limiter: ConcurrencyLimiter(limit: configuration.concurrencyLimit, maximumWait: configuration.concurrencyWait))
        }
        return pools
    }

    /// The router: `GET /health` (the pools' state) and `GET /metrics` of the gateway itself, and
    /// the public API, forwarded.
    static func buildRouter(configuration: GatewayConfiguration, pools: [Upstream: InstancePool], client: HTTPClient)
        -> Router<GatewayRequestContext>
    {
        ServiceMetrics.bootstrap()
        let router = Router(context: GatewayRequestContext.self)
        ServiceMetrics.addRoutes(to: router)
        router.middlewares.add(JSONErrorMiddleware())
        router.middlewares.add(
            GatewayMiddleware(
                table: .standard, pools: pools, forwarder: Forwarder(client: client), authentication: configuration.authentication,
                rateLimiter: configuration.rateLimit > 0
                    ? TokenBucketLimiter(rate: configuration.rateLimit, burst: configuration.burst) : nil,
                staleCopies: StaleCopies()))
        router.get("/live") { _, _ in Liveness(service: name, status: "live") }
        router.get("/ready") { _, _ in
            guard !configuration.readiness.isDraining else {
                throw APIError(.serviceUnavailable, "not ready: draining", headers: [.retryAfter: "1"])
            }
            return Liveness(service: name, status: "ready")
        }
        router.get("/health") { _, _ in
            GatewayHealth(
                status: "ok",
                pools: Dictionary(
                    uniqueKeysWithValues: pools.map { upstream, pool in
                        (
                            upstream.rawValue,
                            GatewayHealth.Pool(
                                instances: pool.instances.count, ready: pool.readyCount, breaker: pool.breaker.state.rawValue,
                                inFlight: pool.limiter.inFlight)
                        )
                    }))
        }
        return router
    }

    public static func buildApplication(configuration: GatewayConfiguration) -> some ApplicationProtocol {
        for upstream in Upstream.allCases where (configuration.pools[upstream] ?? []).isEmpty {
            configuration.logger.warning("no instances for \(upstream.rawValue): its routes answer 503")
        }
        let upstreamClient = UpstreamClient(connectionsPerInstance: configuration.concurrencyLimit)
        let pools = makePools(configuration)
        let checker = HealthChecker(
            pools: Array(pools.values), client: upstreamClient.client, interval: configuration.healthInterval, logger: configuration.logger)
        var services: [any Service] = [upstreamClient, checker]
        if let watch = ParentWatch.fromEnvironment() { services.insert(watch, at: 0) }
        return Application(
            router: buildRouter(configuration: configuration, pools: pools, client: upstreamClient.client),
            server: ServiceRuntime.httpServer,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: name),
            services: services,
            logger: configuration.logger)
    }
}

/// The body of the gateway's `GET /health`.
struct GatewayHealth: ResponseCodable {
    struct Pool: Codable {
        var instances: Int
        var ready: Int
        var breaker: String
        var inFlight: Int
    }

    var status: String
    var pools: [String: Pool]
}
