import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A member of a Redis consumer group: reads its share of one or more streams and hands each event
/// to `handler`, acknowledging it only after the handler returned.
///
/// - Scale-out: every process uses the same group and its own consumer name; Redis gives each entry
///   to one of them.
/// - Retries: a handler that throws leaves the entry pending; it is re-claimed (`XCLAIM`, which counts
///   the delivery) after an exponential backoff. After `maxDeliveries` it goes to the dead-letter stream.
/// - Crashes: entries pending at a consumer that stays idle past `claimIdle` are taken over with
///   `XAUTOCLAIM` by whichever consumer scans next; entries deleted meanwhile are dropped by Redis.
/// - Redis restarts: connection problems are retried with backoff; `NOGROUP` recreates the group.
/// - Graceful shutdown: stops reading, finishes the batch in flight, acknowledges it and returns.
///
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
        /// Deliveries after which a failing entry goes to the dead-letter stream.
        public var maxDeliveries = 5
        /// Wait before re-trying a failed entry; kept below `claimIdle` so that others don't take it.
        public var retryBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        public var deadLetterMaxLength = 100_000

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

    public init(configuration: Configuration, client: RedisClient, logger: Logger, stats: ConsumerStats = ConsumerStats(), handler: @escaping Handler) {
        self.init(configuration: configuration, client: client, logger: logger, stats: stats, batchHandler: { events in
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
        })
    }

    public init(configuration: Configuration, client: RedisClient, logger: Logger, stats: ConsumerStats = ConsumerStats(), batchHandler: @escaping BatchHandler) {
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
        let loop = ConsumerLoop(configuration: configuration, client: client, logger: logger, stats: stats, handler: handler)
        try await withGracefulShutdownHandler {
            try await loop.run()
        } onGracefulShutdown: {
            loop.stop.set()
        }
    }

    /// Creates the group on each stream from the first entry (`0`), so that a group created late
    /// still sees the whole history; `MKSTREAM` creates missing streams. An existing group is kept.
    public static func ensureGroup(client: RedisClient, streams: [String], group: String) async throws {
        let replies = try await client.pipeline(streams.map { ["XGROUP", "CREATE", $0, group, "0", "MKSTREAM"] })
        for reply in replies {
            if case .error(let message) = reply, message.hasPrefix("BUSYGROUP") { continue }
            try reply.orThrow()
        }
    }
}

/// A flag set from the shutdown handler and read by the loop.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// The mutable state of one running consumer; used by the one task that runs it.
private final class ConsumerLoop: @unchecked Sendable {
    struct Delivery {
        var entry: StreamEntry
        var deliveries: Int
    }

    struct Retry {
        var stream: String
        var id: String
        var deliveries: Int
        var due: ContinuousClock.Instant
    }

    let configuration: StreamConsumer.Configuration
    let client: RedisClient
    let logger: Logger
    let handler: StreamConsumer.BatchHandler
    let stats: ConsumerStats
    let stop = StopFlag()

    var pendingAcks: [String: [String]] = [:]
    var retries: [String: Retry] = [:]
    var autoclaimCursors: [String: String] = [:]
    var nextClaimScan = ContinuousClock.now

    init(configuration: StreamConsumer.Configuration, client: RedisClient, logger: Logger, stats: ConsumerStats, handler: @escaping StreamConsumer.BatchHandler) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        self.stats = stats
        self.handler = handler
    }

    private var group: String { configuration.group }
    private var consumer: String { configuration.consumer }
    private static func key(_ stream: String, _ id: String) -> String { stream + "\u{0}" + id }

    func run() async throws {
        logger.info("consumer started", metadata: ["streams": "\(configuration.streams.joined(separator: ","))"])
        var needsSetup = true
        while !stop.isSet && !Task.isCancelled {
            do {
                if needsSetup {
                    try await StreamConsumer.ensureGroup(client: client, streams: configuration.streams, group: group)
                    try await recoverOwnPending()
                    needsSetup = false
                }
                try await iterate()
            } catch let error as RedisError where error.isConnectionProblem {
                continue  // the client waits its backoff before reconnecting
            } catch let error as RedisError where error.isMissingGroup {
                logger.warning("consumer group missing, recreating it", metadata: ["error": "\(error)"])
                pendingAcks.removeAll()
                retries.removeAll()
                autoclaimCursors.removeAll()
                needsSetup = true
            } catch is CancellationError {
                break
            } catch {
                logger.error("consumer iteration failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        if !pendingAcks.isEmpty {
            _ = try? await client.pipeline(ackCommands())
        }
        logger.info("consumer stopped")
    }

    private func iterate() async throws {
        var batch: [Delivery] = []
        if ContinuousClock.now >= nextClaimScan {
            batch += try await claimAbandoned()
            nextClaimScan = .now + configuration.claimInterval
        }
        batch += try await claimDueRetries()
        if batch.isEmpty {
            batch = try await readNew()
        } else if !pendingAcks.isEmpty {
            try await flushAcks()
        }
        if !batch.isEmpty { try await process(batch) }
    }

    // MARK: Reading

    private func readNew() async throws -> [Delivery] {
        var wait = configuration.blockTimeout
        let now = ContinuousClock.now
        if let soonest = retries.values.map(\.due).min() { wait = min(wait, soonest - now) }
        wait = min(wait, nextClaimScan - now)
        let waitMilliseconds = max(0, wait.milliseconds)

        var read = ["XREADGROUP", "GROUP", group, consumer, "COUNT", String(configuration.batchSize)]
        if waitMilliseconds > 0 { read += ["BLOCK", String(waitMilliseconds)] }
        read += ["STREAMS"] + configuration.streams + Array(repeating: ">", count: configuration.streams.count)
        let commands = ackCommands() + [read]
        let socketTimeout = client.endpoint.timeout + wait
        let baseTimeout = client.endpoint.timeout
        let replies = try await client.withConnection { connection in
            connection.setReadTimeout(socketTimeout)
            defer { connection.setReadTimeout(baseTimeout) }
            return try connection.pipeline(commands)
        }
        pendingAcks.removeAll()
        for reply in replies { try reply.orThrow() }
        return StreamEntry.parseRead(replies[replies.count - 1]).map { Delivery(entry: $0, deliveries: 1) }
    }

    /// Entries this consumer name still had pending from an earlier run (a restart with the same
    /// name): retried at once with their real delivery counts.
    private func recoverOwnPending() async throws {
        for stream in configuration.streams {
            var start = "-"
            while true {
                let reply = try await client.command(
                    ["XPENDING", stream, group, start, "+", String(configuration.batchSize), consumer]).orThrow()
                let pending = Self.parsePending(reply)
                for (id, deliveries) in pending {
                    retries[Self.key(stream, id)] = Retry(stream: stream, id: id, deliveries: deliveries, due: .now)
                }
                guard pending.count == configuration.batchSize, let last = pending.last else { break }
                start = "(" + last.id
            }
        }
        if !retries.isEmpty { logger.info("recovering own pending entries", metadata: ["count": "\(retries.count)"]) }
    }

    /// Re-claims this consumer's failed entries whose backoff has passed. `XCLAIM` returns the entry
    /// and counts the delivery; an entry that was deleted or acknowledged meanwhile is dropped.
    private func claimDueRetries() async throws -> [Delivery] {
        let now = ContinuousClock.now
        let due = retries.values.filter { $0.due <= now }
        guard !due.isEmpty else { return [] }
        let byStream = Dictionary(grouping: due, by: \.stream)
        let streams = Array(byStream.keys)
        let commands = streams.map { stream in
            ["XCLAIM", stream, group, consumer, "0"] + byStream[stream]!.map(\.id)
        }
        let replies = try await client.pipeline(commands)
        var deliveries: [Delivery] = []
        for (stream, reply) in zip(streams, replies) {
            let entries = StreamEntry.parseList(stream: stream, try reply.orThrow())
            for retry in byStream[stream]! { retries.removeValue(forKey: Self.key(stream, retry.id)) }
            let counts = Dictionary(uniqueKeysWithValues: byStream[stream]!.map { ($0.id, $0.deliveries) })
            for entry in entries {
                deliveries.append(Delivery(entry: entry, deliveries: (counts[entry.id] ?? 0) + 1))
            }
        }
        return deliveries
    }

    /// Takes over entries left pending past `claimIdle` by any consumer (crashed or stuck), with
    /// `XAUTOCLAIM`, walking each stream's pending list a batch per scan.
    private func claimAbandoned() async throws -> [Delivery] {
        let idle = String(configuration.claimIdle.milliseconds)
        var deliveries: [Delivery] = []
        for stream in configuration.streams {
            let cursor = autoclaimCursors[stream] ?? "0-0"
            let reply = try await client.command(
                ["XAUTOCLAIM", stream, group, consumer, idle, cursor, "COUNT", String(configuration.batchSize)]).orThrow()
            guard let parts = reply.array, parts.count >= 2 else { throw RedisError.unexpectedReply("XAUTOCLAIM gave \(reply)") }
            autoclaimCursors[stream] = parts[0].string ?? "0-0"
            let entries = StreamEntry.parseList(stream: stream, parts[1])
            if parts.count >= 3, let deleted = parts[2].array, !deleted.isEmpty {
                // Redis already removed these from the pending list: their data was trimmed or XDEL'd.
                logger.warning("pending entries were deleted from the stream before being handled", metadata: [
                    "stream": "\(stream)", "count": "\(deleted.count)",
                ])
            }
            guard let first = entries.first, let last = entries.last else { continue }
            let pendingReply = try await client.command(
                ["XPENDING", stream, group, first.id, last.id, String(entries.count), consumer]).orThrow()
            let counts = Dictionary(Self.parsePending(pendingReply).map { ($0.id, $0.deliveries) }, uniquingKeysWith: max)
            logger.info("claimed abandoned entries", metadata: ["stream": "\(stream)", "count": "\(entries.count)"])
            stats.recordClaimed(entries.count)
            for entry in entries {
                retries.removeValue(forKey: Self.key(stream, entry.id))
                deliveries.append(Delivery(entry: entry, deliveries: max(1, counts[entry.id] ?? 1)))
            }
        }
        return deliveries
    }

    static func parsePending(_ reply: RedisReply) -> [(id: String, deliveries: Int)] {
        (reply.array ?? []).compactMap { item in
            guard let fields = item.array, fields.count >= 4, let id = fields[0].string, let count = fields[3].int else { return nil }
            return (id, count)
        }
    }

    // MARK: Handling

    private func process(_ batch: [Delivery]) async throws {
        var deadLetters: [(Delivery, String)] = []
        var readable: [(Delivery, ReceivedEvent)] = []
        for delivery in batch {
            let entry = delivery.entry
            guard let fields = entry.fields else {
                acknowledge(entry)  // deleted while pending: nothing left to handle
                continue
            }
            do {
                let envelope = try EventEnvelope(fields: fields)
                readable.append((delivery, ReceivedEvent(envelope: envelope, stream: entry.stream, entryId: entry.id, deliveries: delivery.deliveries)))
            } catch {
                deadLetters.append((delivery, "undecodable entry: \(error)"))
            }
        }
        let outcomes = readable.isEmpty ? [] : await handler(readable.map(\.1))
        for (index, (delivery, event)) in readable.enumerated() {
            let entry = delivery.entry
            guard index < outcomes.count else { continue }  // no outcome: stays pending, claimed later
            guard let error = outcomes[index] else {
                acknowledge(entry)
                stats.recordHandled()
                continue
            }
            if delivery.deliveries >= configuration.maxDeliveries {
                deadLetters.append((delivery, "\(error)"))
            } else {
                stats.recordFailed()
                let delay = min(configuration.retryBackoff.delay(attempt: delivery.deliveries), configuration.claimIdle / 2)
                retries[Self.key(entry.stream, entry.id)] = Retry(stream: entry.stream, id: entry.id, deliveries: delivery.deliveries, due: .now + delay)
                logger.warning("handler failed, will retry", metadata: [
                    "stream": "\(entry.stream)", "entry": "\(entry.id)", "event": "\(event.envelope.type)",
                    "deliveries": "\(delivery.deliveries)", "error": "\(error)",
                ])
            }
        }
        if !deadLetters.isEmpty { try await deadLetter(deadLetters) }
    }

    private func acknowledge(_ entry: StreamEntry) {
        pendingAcks[entry.stream, default: []].append(entry.id)
    }

    private func ackCommands() -> [[String]] {
        pendingAcks.map { stream, ids in ["XACK", stream, group] + ids }
    }

    private func flushAcks() async throws {
        let replies = try await client.pipeline(ackCommands())
        pendingAcks.removeAll()
        for reply in replies { try reply.orThrow() }
    }

    /// Copies the entries to their dead-letter streams and acknowledges them, atomically (`MULTI`).
    private func deadLetter(_ items: [(Delivery, String)]) async throws {
        let now = Timestamp.string(from: Date())
        var commands: [[String]] = [["MULTI"]]
        for (delivery, reason) in items {
            let entry = delivery.entry
            let fields = DeadLetter.fields(
                original: entry.fields, stream: entry.stream, entryId: entry.id, group: group, consumer: consumer,
                deliveries: delivery.deliveries, error: reason, at: now)
            commands.append(
                ["XADD", DeadLetter.stream(for: entry.stream, group: group), "MAXLEN", "~", String(configuration.deadLetterMaxLength), "*"] + fields)
            commands.append(["XACK", entry.stream, group, entry.id])
        }
        commands.append(["EXEC"])
        let replies = try await client.pipeline(commands)
        for reply in replies { try reply.orThrow() }
        guard let results = replies[replies.count - 1].array else { throw RedisError.unexpectedReply("EXEC was aborted") }
        for result in results { try result.orThrow() }
        stats.recordDeadLettered(items.count)
        for (delivery, reason) in items {
            logger.error("entry moved to the dead-letter stream", metadata: [
                "stream": "\(delivery.entry.stream)", "entry": "\(delivery.entry.id)",
                "deliveries": "\(delivery.deliveries)", "error": "\(reason)",
            ])
        }
    }
}
