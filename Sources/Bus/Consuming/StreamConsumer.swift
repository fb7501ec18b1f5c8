import Foundation
import Logging
import Redis
import ServiceLifecycle

/// A member of a Redis consumer group: reads its share of one or more streams and hands each event
/// to `handler`, acknowledging it only after the handler returned.
///
/// It is a loop over small stages, each with one job (see `Stages/`):
/// - ``StreamReader`` reads new entries (`XREADGROUP`); scale-out: every process uses the same group
///   and its own consumer name, and Redis gives each entry to one of them;
/// - ``AbandonedEntryClaimer`` takes over entries idle past `claimIdle` at any consumer (crashed or
///   stuck) with `XAUTOCLAIM`;
/// - ``RetrySchedule`` re-claims a failed entry (`XCLAIM`, which counts the attempt) after an
///   exponential backoff;
/// - ``Dispatcher`` decodes and hands the batch to the handler, and decides: acknowledge, retry, or
///   dead-letter after `maxAttempts`;
/// - ``DeadLetterer`` copies given-up entries to `<stream>:dead:<group>` and acknowledges them;
/// - ``Acknowledger`` acknowledges the batch as soon as it is handled.
///
/// Redis restarts: connection problems are retried with backoff; `NOGROUP` recreates the group.
/// Graceful shutdown: stops reading, finishes the batch in flight, acknowledges it and returns.
/// Delivery is at-least-once, so handlers must be idempotent (see ``Inbox``).
public struct StreamConsumer: Service {
    public typealias Handler = @Sendable (ReceivedEvent) async throws -> Void
    /// Handles a whole batch at once (one database transaction, one Redis pipeline) and returns
    /// one outcome per event, in order: nil for handled, the error for failed. Failed events are
    /// retried and dead-lettered one by one, exactly as with a ``Handler``.
    public typealias BatchHandler = @Sendable ([ReceivedEvent]) async -> [(any Error)?]

    public struct Configuration: Sendable {
        public var streams: [String]
        public var group: String
        /// Unique per process; two processes sharing a name would share pending entries.
        public var consumer: String
        public var batchSize = 200
        /// How long one `XREADGROUP` waits for new entries; also bounds how late a shutdown is noticed.
        public var blockTimeout: Duration = .milliseconds(500)
        /// Entries pending this long at any consumer are presumed abandoned and taken over.
        public var claimIdle: Duration = .seconds(3)
        public var claimInterval: Duration = .seconds(1)
        /// Attempts after which a failing entry goes to the dead-letter stream.
        public var maxAttempts = 5
        /// Wait before re-trying a failed entry; at most half of `claimIdle`, so that others don't take it.
        public var retryBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))

        public init(streams: [String], group: String, consumer: String = Self.defaultConsumerName()) {
            self.streams = streams
            self.group = group
            self.consumer = consumer
        }

        /// `host-pid`: unique among live processes on one machine and readable in `XINFO CONSUMERS`.
        public static func defaultConsumerName() -> String {
            "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        }
    }

    private let configuration: Configuration
    private let client: RedisClient
    private let handler: BatchHandler
    private let logger: Logger
    /// What this consumer has done so far.
    public let stats: ConsumerStats

    public init(
        configuration: Configuration, client: RedisClient, logger: Logger, stats: ConsumerStats = ConsumerStats(),
        handler: @escaping Handler
    ) {
        self.init(configuration: configuration, client: client, logger: logger, stats: stats) { events in
            var outcomes: [(any Error)?] = []
            for event in events {
                do {
                    try await handler(event)
                    outcomes.append(nil)
                } catch {
                    outcomes.append(error)
                }
            }
            return outcomes
        }
    }

    public init(
        configuration: Configuration, client: RedisClient, logger: Logger, stats: ConsumerStats = ConsumerStats(),
        batchHandler: @escaping BatchHandler
    ) {
        self.configuration = configuration
        self.stats = stats
        self.client = client
        self.handler = batchHandler
        var logger = logger
        logger[metadataKey: "group"] = "\(configuration.group)"
        logger[metadataKey: "consumer"] = "\(configuration.consumer)"
        self.logger = logger
    }

    public func run() async throws {
        var loop = ConsumerLoop(configuration: configuration, client: client, logger: logger, stats: stats, handler: handler)
        // On the connection's thread: reads and acknowledgements run inline, not a hop there and
        // back (two thread wake-ups per batch at low load); the handler's own awaits resume there,
        // and it may block there, checked (``ConsumerThread``).
        await ConsumerThread.$current.withValue(ConsumerThread(client: client)) {
            await withTaskExecutorPreference(client.executor) { await loop.run() }
        }
    }
}

extension StreamConsumer: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "StreamConsumer(\(configuration.group): \(configuration.streams.joined(separator: ",")))" }
}
