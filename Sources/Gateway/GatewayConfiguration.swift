import Foundation
import Identity
import Logging
import Redis
import ServiceKit

/// How the gateway is set up: where it listens, each service's instances, and its limits.
public struct GatewayConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Each service's instances, e.g. `rental: [http://127.0.0.1:8081]`.
    public var pools: [Upstream: [URL]]
    public var authentication: Authentication
    /// Requests per second per subject (or per client address without a token); 0 disables.
    public var rateLimit: Double
    public var burst: Int
    /// Requests in flight per pool before new ones are turned away with 503: the ceiling of the
    /// adaptive limit, or the limit itself when `adaptiveLimit` is false.
    public var concurrencyLimit: Int
    /// Whether each pool's limit is learnt from its instances' latency (``AdaptiveLimit``), or stays
    /// at `concurrencyLimit` (`--concurrency-limit fixed`: tuned by hand, and what the benchmark
    /// compares the adaptive one with).
    public var adaptiveLimit = true
    /// How long a request over the limit may wait for a slot before it is turned away.
    public var concurrencyWait: Duration
    public var breaker: CircuitBreaker.Settings
    /// Event loop threads: each serves its connections' requests and forwards them (``EventLoopExecutor``).
    /// One per four cores: a proxy's work per request is small, and a loop with more connections
    /// handles more of them per wake-up (measured on 2 cores: one loop cost less CPU per order than two).
    public var eventLoops = max(1, ProcessInfo.processInfo.activeProcessorCount / 4)
    /// When the gateway turns the API's requests away at once because its own event loop is too
    /// busy to keep up (``LoopPressure``); a nil limit (the default): never, the loops' demand is
    /// only measured. Off by default: clients that send again at once whatever `Retry-After` says
    /// keep a busy loop busy with 503s instead.
    public var loopPressure = LoopPressure.Settings(limit: nil)
    /// How often each instance's `/ready` is asked (and the instances file looked at).
    public var healthInterval: Duration
    /// Instances that may change while the gateway runs (``InstancesFile``).
    public var instancesFile: InstancesFile?
    /// Set on SIGTERM: the gateway's `/ready` answers 503 while it drains.
    public let readiness = Readiness()
    /// The event loops `/live` watches: 503 once one has been stuck for 10 s.
    public let live = LiveWatch(timeout: .seconds(10))
    /// How long it keeps serving, not-ready, after SIGTERM.
    public var drain: Duration = .seconds(5)
    /// Redis, as the `gateway` user: for the web app's live pages (Lookup's changes) and its
    /// operator's page (streams, dead letters). Without it those parts are off; the API is unchanged.
    public var redis: RedisEndpoint?
    /// `--demo`: the web app's sign-in page offers demo identities, with tokens this issuer signs.
    public var demoIssuer: TokenIssuer?
    public var logger: Logger

    public init(
        host: String = "127.0.0.1", port: Int = 8080, pools: [Upstream: [URL]], authentication: Authentication,
        rateLimit: Double = 50, burst: Int = 100, concurrencyLimit: Int = 64, concurrencyWait: Duration = .milliseconds(50),
        breaker: CircuitBreaker.Settings = CircuitBreaker.Settings(), healthInterval: Duration = .milliseconds(500), logger: Logger
    ) {
        self.host = host
        self.port = port
        self.pools = pools
        self.authentication = authentication
        self.rateLimit = rateLimit
        self.burst = burst
        self.concurrencyLimit = concurrencyLimit
        self.concurrencyWait = concurrencyWait
        self.breaker = breaker
        self.healthInterval = healthInterval
        self.logger = logger
    }
}

/// The services behind the gateway.
public enum Upstream: String, Sendable, CaseIterable, Hashable {
    case rental, delivery, lookup, notifier
}
