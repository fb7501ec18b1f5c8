import Bus
import GRDB
import Hummingbird
import Logging
import ServiceLifecycle

/// The moving parts every service is assembled from, so that each service only says what is its own.
public enum ServiceRuntime {
    /// A Hummingbird application serving `router`, running `services` (relay, consumers) beside the
    /// HTTP server in one `ServiceGroup`: they start together and shut down gracefully together.
    public static func application(
        router: Router<BasicRequestContext>, options: ServiceOptions, name: String, services: [any Service]
    ) -> some ApplicationProtocol {
        Application(
            router: router,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: name),
            services: services,
            logger: options.logger)
    }

    /// A Redis client for the Bus, with the process's consumer name in its thread name.
    public static func redisClient(options: ServiceOptions, role: String) -> RedisClient {
        RedisClient(endpoint: options.redis, name: "\(role)", logger: options.logger)
    }

    /// The relay that moves the service's outbox to Redis.
    public static func outboxRelay(database: any DatabaseWriter, outbox: Outbox, options: ServiceOptions) -> OutboxRelay {
        OutboxRelay(
            database: database, outbox: outbox,
            publisher: StreamPublisher(client: redisClient(options: options, role: "relay")),
            name: options.consumerName, logger: options.logger)
    }

    /// A consumer of `streams` in the group `group` with this process's consumer name.
    public static func consumer(
        group: String, streams: [String], options: ServiceOptions, stats: ConsumerStats, batchHandler: @escaping StreamConsumer.BatchHandler
    ) -> StreamConsumer {
        StreamConsumer(
            configuration: StreamConsumer.Configuration(streams: streams, group: group, consumer: options.consumerName),
            client: redisClient(options: options, role: "consumer"),
            logger: options.logger, stats: stats, batchHandler: batchHandler)
    }
}
