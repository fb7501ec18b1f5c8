import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// Moves outbox rows to their streams, in insertion order, and marks them sent.
///
/// It wakes as soon as a local transaction adds rows (``Outbox/signal``) and otherwise looks every
/// `pollInterval` for rows that other processes sharing the database left behind (a crashed relay's,
/// for instance). Several relays on one database do not publish the same rows: each claims a batch
/// for `claimLease` first. A relay that dies between publishing and marking re-publishes those rows
/// after its lease runs out: delivery is at-least-once and consumers de-duplicate on the event id.
public struct OutboxRelay: Service {
    public struct Configuration: Sendable {
        public var batchSize = 500
        public var pollInterval: Duration = .seconds(1)
        public var claimLease: Duration = .seconds(10)
        /// How long sent rows are kept (for inspection) before they are pruned. Default: one day.
        public var retention: Duration = .seconds(24 * 3600)
        /// How long inbox ids are kept. Default: seven days.
        public var inboxRetention: Duration = .seconds(7 * 24 * 3600)
        public var pruneInterval: Duration = .seconds(60)
        public init() {}
    }

    private let database: any DatabaseWriter
    private let outbox: Outbox
    private let publisher: StreamPublisher
    private let name: String
    private let configuration: Configuration
    private let logger: Logger

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
        try await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    let published = try await publishBatch()
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
        _ = try? await publishBatch()
        logger.info("outbox relay stopped", metadata: ["relay": "\(name)"])
    }

    /// Claims, publishes and marks one batch; returns how many events went out.
    @discardableResult
    public func publishBatch() async throws -> Int {
        let records = try await claimBatch()
        guard !records.isEmpty else { return 0 }
        try await publisher.publish(records.map(\.event))
        let sequences = records.compactMap(\.sequence)
        let now = Timestamp.milliseconds()
        try await database.write { db in
            try db.execute(
                sql: "UPDATE outbox SET publishedAt = ?, claimedBy = NULL, claimedUntil = NULL WHERE sequence IN (\(sequences.map { _ in "?" }.joined(separator: ",")))",
                arguments: StatementArguments([now] + sequences))
        }
        return records.count
    }

    private func claimBatch() async throws -> [OutboxRecord] {
        let now = Timestamp.milliseconds()
        let leaseEnd = now + Int64(configuration.claimLease.components.seconds * 1000)
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
        let outboxCutoff = now - Int64(configuration.retention.components.seconds * 1000)
        let inboxCutoff = now - Int64(configuration.inboxRetention.components.seconds * 1000)
        try await database.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE publishedAt IS NOT NULL AND publishedAt < ?", arguments: [outboxCutoff])
            try Inbox.prune(olderThan: inboxCutoff, in: db)
        }
    }

    /// Counts events not yet published, for health checks and tests.
    public static func backlog(in reader: any DatabaseReader) async throws -> Int {
        try await reader.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE publishedAt IS NULL") ?? 0
        }
    }
}
