import Foundation
import GRDB
import Logging
import Metrics
import Redis
import ServiceLifecycle

/// Moves outbox rows to their streams, in insertion order, and marks them sent.
///
/// It wakes as soon as a local transaction adds rows (``Outbox/signal``) and otherwise looks every
/// `pollInterval` for rows that other processes sharing the database left behind (a crashed relay's,
/// for instance). Several relays on one database do not publish the same rows: each claims a batch
/// for `claimLease` first. A relay that dies between publishing and marking re-publishes those rows
/// after its lease runs out: delivery is at-least-once and consumers de-duplicate on the event id.
///
/// Redis acknowledges an `XADD` before its AOF is fsynced (`appendfsync everysec`), so an OS crash
/// or power loss can take the last second of entries with it. Each row remembers the `run_id` of
/// the Redis server that took it; when the relay sees a new `run_id` (Redis restarted), it
/// re-publishes what it sent in the last `republishWindow`, so nothing acknowledged is lost.
public struct OutboxRelay: Service {
    public struct Configuration: Sendable {
        public var batchSize = 500
        public var pollInterval: Duration = .seconds(1)
        /// How long a relay's claim on a batch keeps other relays off it. Publishing a batch takes
        /// milliseconds; the lease only matters when a relay dies holding rows, and then it is how
        /// long those rows wait for another relay (a restarted one under the same name takes them
        /// at once). An expired lease can at worst send a batch twice, which consumers absorb.
        public var claimLease: Duration = .seconds(2)
        /// How long sent rows are kept (for inspection) before they are pruned. Default: one day.
        public var retention: Duration = .seconds(24 * 3600)
        /// How long inbox ids are kept. Default: seven days.
        public var inboxRetention: Duration = .seconds(7 * 24 * 3600)
        public var pruneInterval: Duration = .seconds(60)
        /// After a Redis restart, events sent this recently are sent again: comfortably more than
        /// the one second of writes `appendfsync everysec` may lose.
        public var republishWindow: Duration = .seconds(5)
        /// How often the relay asks Redis for its `run_id`.
        public var restartCheckInterval: Duration = .seconds(1)
        public init() {}
    }

    private let database: any DatabaseWriter
    private let outbox: Outbox
    private let publisher: StreamPublisher
    private let name: String
    private let configuration: Configuration
    private let logger: Logger
    private let publishedCounter = Counter(label: "bus_outbox_published_total")
    private let republishedCounter = Counter(label: "bus_outbox_republished_total")

    public init(
        database: any DatabaseWriter, outbox: Outbox, publisher: StreamPublisher, name: String,
        configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.database = database
        self.outbox = outbox
        self.publisher = publisher
        self.name = name
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        logger.info("outbox relay started", metadata: ["relay": "\(name)"])
        var nextPrune = ContinuousClock.now
        var redis = RedisIdentity()
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    try await checkForRedisRestart(&redis)
                    let published = try await publishBatch(to: redis.runId)
                    if ContinuousClock.now >= nextPrune {
                        try await prune()
                        nextPrune = .now + configuration.pruneInterval
                    }
                    if published < configuration.batchSize {
                        await outbox.signal.wait(timeout: configuration.pollInterval)
                    }
                } catch let error as RedisError where error.isConnectionProblem {
                    // RedisClient waits its backoff before the next attempt.
                    continue
                } catch is CancellationError {
                    break
                } catch {
                    logger.error("outbox relay failed, retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        } onGracefulShutdown: {
            outbox.signal.wake()
        }
        // Whatever was committed before shutdown goes out now if Redis is there; else the next start sends it.
        _ = try? await publishBatch(to: redis.runId)
        logger.info("outbox relay stopped", metadata: ["relay": "\(name)"])
    }

    /// Claims, publishes and marks one batch; returns how many events went out.
    @discardableResult
    private func publishBatch(to runId: String?) async throws -> Int {
        let records = try await claimBatch()
        guard !records.isEmpty else { return 0 }
        try await publisher.publish(records.map(\.event))
        publishedCounter.increment(by: records.count)
        let sequences = records.compactMap(\.sequence)
        let now = Timestamp.milliseconds()
        try await database.write { db in
            try db.execute(
                sql:
                    "UPDATE outbox SET publishedAt = ?, publishedTo = ?, claimedBy = NULL, claimedUntil = NULL WHERE sequence IN (\(sequences.map { _ in "?" }.joined(separator: ",")))",
                arguments: StatementArguments([now, runId] as [(any DatabaseValueConvertible)?]) + StatementArguments(sequences))
        }
        return records.count
    }

    /// Asks Redis for its `run_id` now and then; when it is not the one recent rows were sent to,
    /// marks those rows unsent again so that they are re-published.
    private func checkForRedisRestart(_ redis: inout RedisIdentity) async throws {
        guard ContinuousClock.now >= redis.nextCheck else { return }
        let reply = try await publisher.client.command(["INFO", "server"]).orThrow()
        redis.nextCheck = .now + configuration.restartCheckInterval
        guard let info = reply.string,
            let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("run_id:") })
        else { return }
        let runId = String(line.dropFirst("run_id:".count))
        guard runId != redis.runId else { return }
        redis.runId = runId
        let cutoff = Timestamp.milliseconds() - configuration.republishWindow.milliseconds
        let reopened = try await database.write { db in
            try db.execute(
                sql: """
                    UPDATE outbox SET publishedAt = NULL, claimedBy = NULL, claimedUntil = NULL
                    WHERE publishedAt >= ? AND publishedTo IS NOT NULL AND publishedTo != ?
                    """,
                arguments: [cutoff, runId])
            return db.changesCount
        }
        republishedCounter.increment(by: reopened)
        if reopened > 0 {
            logger.warning(
                "redis restarted: re-publishing recently sent events it may have lost",
                metadata: [
                    "events": "\(reopened)", "runId": "\(runId)",
                ])
        }
    }

    private func claimBatch() async throws -> [OutboxRecord] {
        let now = Timestamp.milliseconds()
        let leaseEnd = now + configuration.claimLease.milliseconds
        let name = self.name
        let limit = configuration.batchSize
        let records = try await database.write { db in
            try OutboxRecord.fetchAll(
                db,
                sql: """
                    UPDATE outbox SET claimedBy = ?, claimedUntil = ?
                    WHERE sequence IN (
                        SELECT sequence FROM outbox
                        WHERE publishedAt IS NULL AND (claimedUntil IS NULL OR claimedUntil < ? OR claimedBy = ?)
                        ORDER BY sequence LIMIT ?)
                    RETURNING *
                    """,
                arguments: [name, leaseEnd, now, name, limit])
        }
        return records.sorted { ($0.sequence ?? 0) < ($1.sequence ?? 0) }
    }

    private func prune() async throws {
        let now = Timestamp.milliseconds()
        let outboxCutoff = now - configuration.retention.milliseconds
        let inboxCutoff = now - configuration.inboxRetention.milliseconds
        try await database.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE publishedAt IS NOT NULL AND publishedAt < ?", arguments: [outboxCutoff])
            try Inbox.prune(olderThan: inboxCutoff, in: db)
        }
    }

    /// Counts events not yet published: `/health` shows it.
    public func backlog() async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE publishedAt IS NULL") ?? 0
        }
    }
}

/// Which Redis server the relay is talking to, as far as it last looked.
private struct RedisIdentity {
    var runId: String?
    var nextCheck = ContinuousClock.now
}
