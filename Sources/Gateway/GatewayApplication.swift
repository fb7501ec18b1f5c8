import Foundation
import Hummingbird
import Logging
import NIOPosix
import Redis
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
            GatewayMetrics.start(pool: name)
            let breaker = CircuitBreaker(settings: configuration.breaker) { state in
                configuration.logger.warning("circuit breaker \(state.rawValue)", metadata: ["pool": "\(name)"])
                GatewayMetrics.breakerState(state, pool: name)
            }
            pools[upstream] = InstancePool(
                upstream: upstream, instances: configuration.pools[upstream] ?? [], breaker: breaker,
                limiter: ConcurrencyLimiter(
                    ceiling: configuration.concurrencyLimit, maximumWait: configuration.concurrencyWait,
                    adaptive: configuration.adaptiveLimit))
        }
        return pools
    }

    /// The router: `GET /health` (the pools' state) and `GET /metrics` of the gateway itself, the
    /// API's OpenAPI document, the web app, and the public API, forwarded.
    static func buildRouter(
        configuration: GatewayConfiguration, api: PublicAPI, pressures: LoopPressures? = nil, live: LiveChanges? = nil,
        operations: RedisClient? = nil
    ) throws -> Router<GatewayRequestContext> {
        let pools = api.pools
        ServiceMetrics.bootstrap()
        let router = Router(context: GatewayRequestContext.self)
        // The gateway is the one process that reports every group's lag (``GroupLag``): a consumer
        // that is down cannot say it is behind.
        let scraped = ScrapedGauges()
        // Without Hummingbird's `hb_` request metrics: the gateway counts its API's requests itself
        // (`gateway_requests_total`, by route), and both, per request, cost it 1.5 % of its CPU.
        ServiceMetrics.addRoutes(to: router, httpMetrics: false) {
            GatewayMetrics.readPools(pools, into: scraped)
            GatewayMetrics.readLoops(pressures?.all ?? [], into: scraped)
            if let operations { await BusMetrics.readStreams(client: operations, into: scraped) }
        }
        // Starts a trace (or continues the client's `traceparent`) per request, when tracing is on.
        if ServiceTracing.isEnabled { router.middlewares.add(RequestTracingMiddleware()) }
        router.middlewares.add(JSONErrorMiddleware())
        // Where ``APIChannelHandler`` is in the pipeline (a served gateway), the API's requests do
        // not reach the router; without it (the router's tests), this serves them alike.
        router.middlewares.add(GatewayMiddleware(api: api))
        // The gateway's own routes asked with another method: 405 with `Allow`, as the API's.
        let methodNotAllowed = MethodNotAllowedMiddleware<GatewayRequestContext>()
        router.middlewares.add(methodNotAllowed)
        WebApp(
            api: api, templates: try WebTemplates(), live: live,
            operations: operations, demo: configuration.demoIssuer.map(DemoIdentities.init)
        ).addRoutes(to: router)
        router.get("/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "public, max-age=300"],
                body: ResponseBody(byteBuffer: StaticFiles.openAPI))
        }
        router.get("/live") { _, _ in try configuration.live.answer(service: name) }
        router.get("/ready") { _, _ in
            guard !configuration.readiness.isDraining else {
                throw APIError(.serviceUnavailable, "not ready: draining", headers: [.retryAfter: "1"])
            }
            return ProbeAnswer(service: name, status: "ready")
        }
        router.get("/health") { request, _ in
            // Which instances a pool has, by address, only for an admin: the rest of the world
            // learns how many there are and how they do, not where they run.
            let caller = try? await configuration.authentication.caller(authorization: request.headers[.authorization])
            let showMembers = caller?.role == .admin
            return GatewayHealth(
                status: "ok",
                pools: Dictionary(
                    uniqueKeysWithValues: pools.map { upstream, pool in
                        (
                            upstream.rawValue,
                            GatewayHealth.Pool(
                                instances: pool.instances.count, ready: pool.readyCount, breaker: pool.breaker.state.rawValue,
                                inFlight: pool.limiter.inFlight, concurrencyLimit: pool.limiter.limit,
                                members: showMembers ? pool.readiness.map { .init(url: $0.instance.absoluteString, ready: $0.ready) } : nil)
                        )
                    }))
        }
        methodNotAllowed.learn(router)
        return router
    }

    /// The public API over `pools`, with the configuration's token check and rate limit.
    static func makeAPI(_ configuration: GatewayConfiguration, pools: [Upstream: InstancePool], connections: UpstreamConnections)
        -> PublicAPI
    {
        PublicAPI(
            table: .standard, pools: pools, forwarder: Forwarder(connections: connections), authentication: configuration.authentication,
            rateLimiter: configuration.rateLimit > 0 ? TokenBucketLimiter(rate: configuration.rateLimit, burst: configuration.burst) : nil,
            staleCopies: StaleCopies())
    }

    public static func buildApplication(configuration: GatewayConfiguration) throws -> some ApplicationProtocol {
        for upstream in Upstream.allCases where (configuration.pools[upstream] ?? []).isEmpty {
            configuration.logger.warning("no instances for \(upstream.rawValue): its routes answer 503")
        }
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        let upstreamClient = UpstreamClient(connectionsPerInstance: configuration.concurrencyLimit, group: loops)
        let pools = makePools(configuration)
        let checker = HealthChecker(
            pools: Array(pools.values), client: upstreamClient.probes, interval: configuration.healthInterval,
            instancesFile: configuration.instancesFile, logger: configuration.logger)
        // The beat watches the loops that serve (the singleton group's would be the wrong ones).
        var services: [any Service] = [upstreamClient, checker, EventLoopBeat(group: loops, watch: configuration.live)]
        let pressures = LoopPressures(group: loops, settings: configuration.loopPressure)
        services.append(pressures)
        var live: LiveChanges?
        var operations: RedisClient?
        if let redis = configuration.redis {
            // Two connections: the live one blocks in XREAD; the operator's page must not wait behind it.
            let following = LiveChanges(client: RedisClient(endpoint: redis, logger: configuration.logger), logger: configuration.logger)
            let reading = RedisClient(endpoint: redis, logger: configuration.logger)
            services += [following, reading]
            (live, operations) = (following, reading)
        }
        if let watch = ParentWatch.fromEnvironment() { services.insert(watch, at: 0) }
        let api = makeAPI(configuration, pools: pools, connections: upstreamClient.connections)
        return Application(
            router: try buildRouter(configuration: configuration, api: api, pressures: pressures, live: live, operations: operations),
            // Each connection's requests are handled and forwarded on its event loop (see
            // ``EventLoopExecutor``), the API's in the connection's pipeline (``APIChannelHandler``).
            server: .gateway(api, pressures: pressures),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: name),
            services: services,
            eventLoopGroupProvider: .shared(loops),
            logger: configuration.logger)
    }
}

/// The body of the gateway's `GET /health`.
public struct GatewayHealth: ResponseCodable {
    public struct Pool: Codable, Sendable {
        /// One instance and whether the gateway routes to it now.
        public struct Member: Codable, Sendable {
            public var url: String
            public var ready: Bool
        }

        public var instances: Int
        public var ready: Int
        public var breaker: String
        public var inFlight: Int
        /// Requests let in at once now: learnt from the instances' latency, at most `--max-concurrent`.
        public var concurrencyLimit: Int
        /// Each instance with its readiness; for an admin's token only.
        public var members: [Member]?
    }

    public var status: String
    public var pools: [String: Pool]
}
