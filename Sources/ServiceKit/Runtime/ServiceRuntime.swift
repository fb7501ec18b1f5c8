import Bus
import GRDB
import Hummingbird
import HummingbirdCore
import Logging
import Redis
import ServiceLifecycle

/// The moving parts of one service process, assembled in one place so that each service only says
/// what is its own. Every part is a lifecycle service; Redis clients are added before the part that
/// uses them, so the `ServiceGroup` shuts them down after it (it shuts down in reverse order).
public struct ServiceRuntime {
    public let options: ServiceOptions
    public private(set) var services: [any Service] = []
    /// The streams this process writes and so trims: its outbox's, and its consumers' dead letters.
    private var writtenStreams: [String] = []
    /// The consumer's dead letters, handed to its handler again on an admin's request.
    public private(set) var deadLetters: DeadLetterReplay?
    /// What `/live` answers from: the event loops, and each consumer and relay added.
    public let live: LiveWatch

    public init(options: ServiceOptions) {
        self.options = options
        live = LiveWatch(timeout: options.liveTimeout)
        if let watch = ParentWatch.fromEnvironment() { services.append(watch) }
        services.append(EventLoopBeat(watch: live))
    }

    /// A Redis client that the service group closes at shutdown.
    public mutating func redisClient() -> RedisClient {
        let client = RedisClient(endpoint: options.redis, logger: options.logger)
        services.append(client)
        return client
    }

    /// A pool of Redis clients for request handlers, closed at shutdown.
    public mutating func redisClientPool(size: Int) -> RedisClientPool {
        let pool = RedisClientPool(endpoint: options.redis, size: size, logger: options.logger)
        services.append(pool)
        return pool
    }

    /// The relay that moves the service's outbox to `streams` in Redis, with a client of its own.
    public mutating func outboxRelay(database: any DatabaseWriter, outbox: Outbox, streams: [String]) -> OutboxRelay {
        writtenStreams += streams
        let relay = OutboxRelay(
            database: database, outbox: outbox, publisher: StreamPublisher(client: redisClient()),
            name: options.consumerName, logger: options.logger)
        live.watch("outbox relay", relay.progress)
        services.append(relay)
        return relay
    }

    /// A consumer of `streams` in the group `group` with this process's consumer name, on `client`
    /// (from ``redisClient()``; by default a client of its own). A handler that writes to Redis
    /// does best through the consumer's client: the consumer runs on that connection's thread, so
    /// those writes run inline too.
    public mutating func consumer(
        group: String, streams: [String], stats: ConsumerStats, client: RedisClient? = nil,
        batchHandler: @escaping StreamConsumer.BatchHandler
    ) {
        writtenStreams += streams.map { DeadLetter.stream(for: $0, group: group) }
        let client = client ?? redisClient()
        let consumer = StreamConsumer(
            configuration: StreamConsumer.Configuration(streams: streams, group: group, consumer: options.consumerName),
            client: client, logger: options.logger, stats: stats, batchHandler: batchHandler)
        live.watch("consumer \(group)", stats.progress)
        services.append(consumer)
        // A replay runs on an HTTP request's task, through a client of its own: the consumer's
        // connection thread belongs to the consumer.
        deadLetters = DeadLetterReplay(group: group, streams: streams, client: redisClient(), handler: batchHandler)
    }

    /// Prunes the service database's inbox ids and idempotency keys now and then, and checkpoints
    /// its write-ahead log beside the writer (``WALCheckpointer``).
    public mutating func housekeeping(database: any DatabaseWriter) {
        services.append(Housekeeping(database: database, logger: options.logger))
        if let pool = database as? DatabasePool { services.append(WALCheckpointer(writer: pool, logger: options.logger)) }
    }

    /// Backs `options.databasePath` up periodically, when ``ServiceOptions/backup`` says where.
    public mutating func periodicBackup(service: String) -> PeriodicBackup? {
        guard let configuration = options.backup else { return nil }
        let backup = PeriodicBackup(
            service: service, databasePath: options.databasePath, configuration: configuration, logger: options.logger)
        services.append(backup)
        return backup
    }

    /// Trims the streams the parts added so far write, by ``ServiceOptions/retention``; add it last.
    public mutating func streamTrimmer() -> StreamTrimmer {
        let trimmer = StreamTrimmer(client: redisClient(), streams: writtenStreams, policy: options.retention, logger: options.logger)
        services.append(trimmer)
        return trimmer
    }

    /// HTTP/1.1 with an idle timeout (30 s: idle clients cannot hold every connection) and a
    /// header-read timeout (a slowloris client cannot either).
    public static var httpServer: HTTPServerBuilder {
        .http1(configuration: .init(additionalChannelHandlers: [HeaderTimeoutHandler()], idleTimeout: .seconds(30)))
    }

    /// A Hummingbird application serving `router`, with every part added so far beside the HTTP
    /// server in one `ServiceGroup`: they start together and shut down gracefully together.
    public func application(router: Router<ServiceRequestContext>, name: String) -> some ApplicationProtocol {
        Application(
            router: router,
            server: ServiceRuntime.httpServer,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: name),
            services: services,
            logger: options.logger)
    }
}
