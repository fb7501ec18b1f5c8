import Bus
import Foundation
import Hummingbird
import Identity

/// The router every service is built on: JSON errors, 405 with `Allow` for a known path asked with
/// another method, `GET /metrics` (Prometheus), and `GET /health`, which also says what this
/// process's consumer and outbox relay are doing (so an operator, or the fault harness, sees each
/// consumer's share and any backlog), and an admin's `POST /dead-letters/{group}/{stream}/redrive`
/// (``DeadLetterReplay``; 404 in a service without that group). `addRoutes` adds the service's own
/// routes; every request carries its verified caller (``AuthenticationMiddleware``), and each route
/// says who may use it.
public func makeServiceRouter(
    service: String, wiring: ServiceWiring, addRoutes: (Router<ServiceRequestContext>) -> Void
) -> Router<ServiceRequestContext> {
    let (health, deadLetters) = (wiring.health, wiring.deadLetters)
    ServiceMetrics.bootstrap()
    let router = Router(context: ServiceRequestContext.self)
    let scraped = ScrapedGauges()
    ServiceMetrics.addRoutes(to: router) { await BusMetrics.readProcess(health, into: scraped) }
    // A server span per request, continuing the caller's `traceparent`, when tracing is on.
    if ServiceTracing.isEnabled { router.middlewares.add(RequestTracingMiddleware()) }
    router.middlewares.add(RequestIDMiddleware())  // outermost but for tracing: the error log lines carry it too
    router.middlewares.add(JSONErrorMiddleware())
    let methodNotAllowed = MethodNotAllowedMiddleware<ServiceRequestContext>()
    router.middlewares.add(methodNotAllowed)
    router.middlewares.add(AuthenticationMiddleware(wiring.authentication))
    router.get("/health") { _, _ in await health.report(service: service) }
    router.get("/live") { _, _ in try health.liveness(service: service) }
    router.get("/ready") { _, _ in try await health.readiness(service: service) }
    router.post("/dead-letters/{group}/{stream}/redrive") { _, context in
        _ = try context.require(.admin)
        let group = try Validate.text(context.parameters.get("group"), "group", maxLength: 100)
        let stream = try Validate.text(context.parameters.get("stream"), "stream", maxLength: 200)
        guard let deadLetters, deadLetters.group == group, let outcome = try await deadLetters.replay(stream: stream) else {
            throw APIError.notFound("no dead letters of group \(group) on \(stream) here")
        }
        return outcome
    }
    addRoutes(router)
    methodNotAllowed.learn(router)
    return router
}

/// Where `/health` takes its figures from; each part is optional (a test router has none).
public struct HealthSources: Sendable {
    public var consumer: String?
    public var stats: ConsumerStats?
    public var relay: OutboxRelay?
    public var trimmer: StreamTrimmer?
    /// Set while the process drains (SIGTERM): `/ready` then answers 503.
    public var draining: Readiness?
    /// Asks the store the service serves from (SQLite, or Redis for Lookup) whether it answers.
    public var storage: (@Sendable () async throws -> Void)?
    /// The loops `/live` watches; none: `/live` only says the process answers.
    public var live: LiveWatch?
    /// The periodic backups, when the service writes them.
    public var backup: PeriodicBackup?

    public init(
        consumer: String? = nil, stats: ConsumerStats? = nil, relay: OutboxRelay? = nil, trimmer: StreamTrimmer? = nil,
        draining: Readiness? = nil, storage: (@Sendable () async throws -> Void)? = nil
    ) {
        self.consumer = consumer
        self.stats = stats
        self.relay = relay
        self.trimmer = trimmer
        self.draining = draining
        self.storage = storage
    }

    /// `GET /live` (``LiveWatch/answer(service:)``).
    func liveness(service: String) throws -> ProbeAnswer {
        try live?.answer(service: service) ?? ProbeAnswer(service: service, status: "live")
    }

    /// `GET /ready`: 200 when this process can serve now (not draining, its store answers within
    /// 1 s); 503 with the reasons otherwise. Redis and the consumer group are reported, not
    /// required, for a service that serves from SQLite: Rental must keep taking orders while Redis
    /// is away, and a readiness that followed Redis would take every instance out of the pool.
    func readiness(service: String) async throws -> Response {
        var report = Readiness.Report(service: service, status: "ready")
        var reasons: [String] = []
        if draining?.isDraining == true {
            report.draining = true
            reasons.append("draining")
        }
        if let storage {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await storage() }
                    group.addTask {
                        try await Task.sleep(for: .seconds(1))
                        throw APIError(.serviceUnavailable, "no answer within 1 s")
                    }
                    try await group.next()
                    group.cancelAll()
                }
                report.storage = "ok"
            } catch {
                report.storage = "\(error)"
                reasons.append("its store does not answer")
            }
        }
        if let stats {
            report.consumerGroup = stats.snapshot.groupReady
            report.redisAnsweredSecondsAgo = stats.sinceRedisAnswered.map { $0 / .seconds(1) }
        }
        if !reasons.isEmpty {
            report.status = "not_ready"
            report.error = "not ready: " + reasons.joined(separator: ", ")
        }
        let body = try JSONEncoder().encode(report)
        return Response(
            status: reasons.isEmpty ? .ok : .serviceUnavailable,
            headers: reasons.isEmpty ? [.contentType: "application/json"] : [.contentType: "application/json", .retryAfter: "1"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    func report(service: String) async -> Health {
        let outbox = try? await relay?.counts()
        return Health(
            service: service, status: "ok", consumer: consumer, events: stats?.snapshot, outboxBacklog: outbox?.backlog,
            outboxSetAside: outbox?.setAside, capTrimmed: trimmer?.capTrimmed.withLock { $0 }, backup: backup.map { BackupHealth($0) })
    }
}

/// The body of `GET /live` (the process answers; it depends on nothing else), and of the
/// gateway's `GET /ready`.
public struct ProbeAnswer: ResponseCodable, Sendable {
    public var service: String
    public var status: String

    public init(service: String, status: String) {
        self.service = service
        self.status = status
    }
}

extension Readiness {
    /// The body of `GET /ready`.
    public struct Report: Codable, Sendable {
        public var service: String
        public var status: String
        /// Set when not ready: why, in the error format every other answer uses.
        public var error: String?
        public var draining = false
        public var storage: String?
        public var consumerGroup: Bool?
        public var redisAnsweredSecondsAgo: Double?
    }
}

/// The body of `GET /health`.
public struct Health: ResponseCodable, Equatable, Sendable {
    public var service: String
    public var status: String
    public var consumer: String?
    public var events: ConsumerStats.Snapshot?
    /// Events committed and not yet marked published: those not on their stream yet, and those that
    /// went out in the last `markInterval` (50 ms); nil for a service without an outbox.
    public var outboxBacklog: Int?
    /// Events that can never be published (too large, refused): set aside with their error.
    public var outboxSetAside: Int?
    /// Entries the streams' hard cap removed since this process started, by stream: each one may
    /// have been unread by some group.
    public var capTrimmed: [String: Int]?
    /// The periodic backups; nil when the service writes none.
    public var backup: BackupHealth?
}

/// What `/health` says of a service's periodic backups.
public struct BackupHealth: Codable, Equatable, Sendable {
    public var directory: String
    public var everySeconds: Double
    /// The newest backup's file and age; nil before the first.
    public var lastFile: String?
    public var ageSeconds: Double?

    init(_ backup: PeriodicBackup, now: Date = Date()) {
        directory = backup.configuration.directory
        everySeconds = backup.configuration.interval / .seconds(1)
        let last = backup.lastBackup
        lastFile = last.map { ($0.file as NSString).lastPathComponent }
        ageSeconds = last.map { max(0, now.timeIntervalSince($0.at)) }
    }
}

extension DeadLetterReplay.Outcome: ResponseEncodable {}
