import Bus
import Foundation
import Logging
import Redis

/// How one service process is started: from `bookdelivery <service>` flags or the environment
/// (`PORT`, `REDIS_URL`, `DB_PATH`, `CONSUMER_NAME`, `RETENTION_AGE`, `RETENTION_COUNT`, `STREAM_CAP`).
public struct ServiceOptions: Sendable {
    public var host: String
    public var port: Int
    public var redis: RedisEndpoint
    /// The service's SQLite file; unused by Lookup, whose state lives in Redis.
    public var databasePath: String
    /// This process's name in the consumer groups; distinct for every process of a service.
    public var consumerName: String
    /// How long the streams this process writes keep their entries.
    public var retention: RetentionPolicy
    /// How durable commits are, and whether concurrent writes share them.
    public var storage: StorageOptions
    /// How callers are checked: tokens against a key directory's public keys, or `--no-auth`.
    public var authentication: Authentication
    /// Set on SIGTERM; `/ready` answers 503 from then on.
    public let readiness = Readiness()
    /// How long a stopping process keeps serving, not-ready, before it stops (`--drain`).
    public var drain: Duration
    /// How long a loop (an event loop, the consumer's, the relay's) may go without turning before
    /// `/live` answers 503 (`--live-timeout`).
    public var liveTimeout: Duration = .seconds(10)
    /// Start even if the streams no longer hold everything the database lacks (``StreamRecovery``).
    public var acceptLoss = false
    /// Where and how often the service backs its database up (``PeriodicBackup``); nil: it does not.
    public var backup: PeriodicBackup.Configuration?
    public var logger: Logger

    public init(
        host: String = "127.0.0.1", port: Int, redis: RedisEndpoint, databasePath: String, consumerName: String,
        retention: RetentionPolicy = RetentionPolicy(), storage: StorageOptions = StorageOptions(),
        authentication: Authentication, drain: Duration = .seconds(5), logger: Logger
    ) {
        self.host = host
        self.port = port
        self.redis = redis
        self.databasePath = databasePath
        self.consumerName = consumerName
        self.retention = retention
        self.storage = storage
        self.authentication = authentication
        self.drain = drain
        self.logger = logger
    }
}
