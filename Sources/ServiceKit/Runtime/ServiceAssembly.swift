import Bus
import Contracts
import GRDB
import Hummingbird
import Redis

/// What a service's router is given besides its own store: who is calling, where `/health` and
/// `/ready` read from, and the consumer's dead letters.
public struct ServiceWiring: Sendable {
    public var authentication: Authentication
    public var health: HealthSources
    public var deadLetters: DeadLetterReplay?

    public init(authentication: Authentication, health: HealthSources = HealthSources(), deadLetters: DeadLetterReplay? = nil) {
        self.authentication = authentication
        self.health = health
        self.deadLetters = deadLetters
    }
}

extension ServiceRuntime {
    /// A whole service from what is its own, every service assembled alike: the outbox relay to the
    /// service's own stream (``Streams/ownedBy``) when it has an outbox; the consumer of `consumes`
    /// in the group named after the service, on a client of its own that `handler` is given (a
    /// handler that writes Redis writes best through it, inline on its thread); housekeeping of
    /// `database`; the trimmer of what the parts write; then `router`, with `/health`, `/ready`,
    /// `/live` and the dead letters wired to those parts.
    ///
    /// - Parameters:
    ///   - storage: what `/ready` asks; by default a `SELECT 1` on `database`.
    public mutating func application(
        name: String, consumes streams: [String], database: (any DatabaseWriter)? = nil, outbox: Outbox? = nil,
        storage: (@Sendable () async throws -> Void)? = nil,
        handler: (RedisClient) -> StreamConsumer.BatchHandler,
        router: (ServiceWiring) -> Router<ServiceRequestContext>
    ) -> some ApplicationProtocol {
        var relay: OutboxRelay?
        if let database, let outbox, let stream = Streams.ownedBy[name] {
            relay = outboxRelay(database: database, outbox: outbox, streams: [stream])
        }
        let stats = ConsumerStats(group: name)
        let client = redisClient()
        consumer(group: name, streams: streams, stats: stats, client: client, batchHandler: handler(client))
        var backup: PeriodicBackup?
        if let database {
            housekeeping(database: database)
            backup = periodicBackup(service: name)
        }
        let trimmer = streamTrimmer()
        let storage =
            storage
            ?? database.map { database -> @Sendable () async throws -> Void in
                { try await database.read { try $0.execute(sql: "SELECT 1") } }
            }
        var health = HealthSources(
            consumer: options.consumerName, stats: stats, relay: relay, trimmer: trimmer, draining: options.readiness, storage: storage)
        health.live = live
        health.backup = backup
        let wiring = ServiceWiring(authentication: options.authentication, health: health, deadLetters: deadLetters)
        return application(router: router(wiring), name: name)
    }
}
