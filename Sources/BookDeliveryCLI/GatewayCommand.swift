import ArgumentParser
import Foundation
import Gateway
import Hummingbird
import Identity
import Logging
import ServiceKit

/// `bookdelivery gateway`: the public entry point in front of the services' instances.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run the gateway: the one public entry point (port 8080), routing to pools of service instances.",
        discussion: """
            Each pool is a comma-separated list of instance URLs, e.g. --rental http://127.0.0.1:8081,http://127.0.0.1:9081. \
            Requests are checked (token, rate limit), shed when a pool is saturated, and kept away from a failing pool by \
            its circuit breaker; reads of a customer's rentals fall back to Rental while Lookup is down, and the catalogue \
            to its last good copy while Rental is.

            It also serves the web app at / (sign in with a token; with --demo, as a demo identity) and the API's \
            OpenAPI document at /openapi.json. With --redis (as the `gateway` Redis user) the app's pages follow changes \
            live and admins see the streams, consumer groups and dead letters.
            """)

    @Option(help: "HTTP port (env PORT; default 8080).") var port: Int?
    @Option(help: "Address to listen on (env HOST; default 127.0.0.1).") var host: String?
    @Option(help: "Rental's instances (env RENTAL_URLS).") var rental: String?
    @Option(help: "Delivery's instances (env DELIVERY_URLS).") var delivery: String?
    @Option(help: "Lookup's instances (env LOOKUP_URLS).") var lookup: String?
    @Option(help: "Notifier's instances (env NOTIFIER_URLS).") var notifier: String?
    @Option(
        help: """
            A JSON file of instances per pool, {"rental": ["http://127.0.0.1:8081"], ...}, read again whenever it changes             (instances added or removed while the gateway runs). Pools it names need no --rental etc.
            """)
    var instancesFile: String?
    @OptionGroup var auth: AuthOptions
    @OptionGroup var drain: DrainOption
    @Option(
        help:
            "Redis URL for the web app's live pages and operator's page, redis://gateway@host:port or redis-sentinel://gateway@host:port,…/MASTERNAME (env REDIS_URL; none: those parts are off)."
    )
    var redis: String?
    @OptionGroup var redisPassword: RedisPasswordOption
    @Flag(
        help:
            "Offer demo identities (alice, bob, courier-1, admin) on the web app's sign-in page, with 1-hour tokens signed with --keys' signing key. For try-outs only."
    )
    var demo = false
    @Option(help: "Requests per second per subject (per client address without a token); 0 disables (env RATE_LIMIT; default 50).")
    var rateLimit: Double?
    @Option(help: "Burst allowed above the rate (env RATE_BURST; default 100).") var burst: Int?
    @Option(
        help:
            "The most requests in flight per pool (env MAX_CONCURRENT; default 64); the limit below it adapts to the instances' latency, and requests over it get 503 with Retry-After."
    )
    var maxConcurrent: Int?
    @Option(
        help:
            "adaptive: each pool's limit is learnt from its instances' latency, up to --max-concurrent; fixed: it is --max-concurrent, tuned by hand (env CONCURRENCY_LIMIT; default adaptive)."
    )
    var concurrencyLimit: String?
    /// `--concurrency-limit`'s values (`up` takes them too, and refuses others before anything starts).
    enum LimitMode: String, ExpressibleByArgument, CaseIterable { case adaptive, fixed }
    @Option(
        help:
            "How busy, in percent of the time, the gateway's event loop may be (running, or waiting for a core) before a growing share of the API's requests is turned away at once with 503 and Retry-After, so that it keeps up with the rest, e.g. 90 (env LOOP_BUSY_LIMIT; default 100: never). It helps against many independent clients; clients that send again at once, ignoring Retry-After, get mostly 503s (see the README)."
    )
    var loopBusyLimit: Int?
    @Option(help: "Event loop threads serving and forwarding requests (env EVENT_LOOPS; default one per four cores, at least 1).")
    var eventLoops: Int?

    func run() async throws {
        ServiceMetrics.bootstrap()
        try ServiceTracing.bootstrap(service: GatewayApplication.name)
        let configuration = try await resolve()
        try await DrainGate.run(
            try GatewayApplication.buildApplication(configuration: configuration), readiness: configuration.readiness,
            drain: configuration.drain, logger: configuration.logger)
    }

    /// The configuration the flags and the environment give.
    func resolve() async throws -> GatewayConfiguration {
        let environment = ProcessInfo.processInfo.environment
        var logger = Logger(label: "bookdelivery.gateway")
        logger.logLevel = environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let port = port ?? environment["PORT"].flatMap(Int.init) ?? GatewayApplication.defaultPort
        guard (1...65535).contains(port) else { throw ValidationError("--port must be from 1 to 65535") }
        var pools: [Upstream: [URL]] = [:]
        let file = instancesFile.map(InstancesFile.init)
        if let file {
            do { pools = try file.read() } catch { throw ValidationError("--instances-file \(file.path): \(error)") }
        }
        for (upstream, flag) in [(Upstream.rental, rental), (.delivery, delivery), (.lookup, lookup), (.notifier, notifier)] {
            let variable = "\(upstream.rawValue.uppercased())_URLS"
            guard let list = flag ?? environment[variable] else {
                guard pools[upstream] != nil else {
                    throw ValidationError(
                        "--\(upstream.rawValue) (or \(variable), or --instances-file) is required: the URLs of its instances")
                }
                continue
            }
            pools[upstream] = try Self.urls(list, option: "--\(upstream.rawValue)")
        }
        let rate = rateLimit ?? environment["RATE_LIMIT"].flatMap(Double.init) ?? 50
        let burst = burst ?? environment["RATE_BURST"].flatMap(Int.init) ?? 100
        let concurrency = maxConcurrent ?? environment["MAX_CONCURRENT"].flatMap(Int.init) ?? 64
        guard rate >= 0, rate.isFinite else { throw ValidationError("--rate-limit must be 0 (off) or more") }
        guard burst >= 1 else { throw ValidationError("--burst must be 1 or more") }
        guard concurrency >= 1 else { throw ValidationError("--max-concurrent must be 1 or more") }
        var configuration = GatewayConfiguration(
            host: host ?? environment["HOST"] ?? "127.0.0.1", port: port, pools: pools,
            authentication: try await auth.authentication(logger: logger), rateLimit: rate, burst: burst, concurrencyLimit: concurrency,
            logger: logger)
        configuration.drain = try drain.duration()
        let mode = concurrencyLimit ?? environment["CONCURRENCY_LIMIT"] ?? "adaptive"
        guard let limitMode = LimitMode(rawValue: mode) else {
            throw ValidationError("--concurrency-limit must be adaptive or fixed, not \(mode)")
        }
        configuration.adaptiveLimit = limitMode == .adaptive
        if let loops = eventLoops ?? environment["EVENT_LOOPS"].flatMap(Int.init) {
            guard (1...256).contains(loops) else { throw ValidationError("--event-loops must be 1 to 256") }
            configuration.eventLoops = loops
        }
        let busyLimit = loopBusyLimit ?? environment["LOOP_BUSY_LIMIT"].flatMap(Int.init) ?? 100
        guard (50...100).contains(busyLimit) else { throw ValidationError("--loop-busy-limit must be 50 to 100 (never)") }
        configuration.loopPressure = LoopPressure.Settings(limit: busyLimit == 100 ? nil : Double(busyLimit) / 100)
        configuration.instancesFile = file
        if let url = redis ?? environment["REDIS_URL"] {
            var endpoint = try RedisOption.endpoint(flag: url)
            try redisPassword.apply(to: &endpoint)
            configuration.redis = endpoint
        }
        if demo {
            guard let directory = auth.keys ?? environment["KEYS_DIR"], !auth.noAuth else {
                throw ValidationError("--demo signs demo tokens with the signing key of --keys DIR; it needs --keys (and no --no-auth)")
            }
            do { configuration.demoIssuer = try KeyDirectory(path: directory).issuer() } catch {
                throw ValidationError("--demo needs the signing key in \(directory): \(error)")
            }
            logger.warning("--demo: the web app's sign-in page hands out demo identities' tokens. Never expose this gateway.")
        }
        return configuration
    }

    static func urls(_ list: String, option: String) throws -> [URL] {
        let urls = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !urls.isEmpty else { throw ValidationError("\(option) needs at least one URL") }
        return try urls.map { text in
            do { return try InstancesFile.instanceURL(text, option: option) } catch { throw ValidationError("\(error)") }
        }
    }
}
