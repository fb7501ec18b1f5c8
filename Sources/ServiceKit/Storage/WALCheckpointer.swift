import GRDB
import Logging
import ServiceLifecycle

/// Copies the write-ahead log into the database file from a connection of its own, so that the
/// writer does not.
///
/// SQLite's default is that the commit which takes the log past 1,000 pages does the copy, in the
/// writer's connection, before it returns: at 500 orders/s that was one commit every ~170 ms (an
/// order writes ~15 pages counting the relay's bookkeeping), each holding up the writer queue, and
/// so every write queued behind it, for the copy and two fsyncs (a cluster of 2–4 orders answered
/// ~8 ms late each time, seen in per-request latencies over time). A passive checkpoint from another
/// connection takes no write lock: the writer keeps committing while it runs. The writer still
/// checkpoints itself past `backstopPages`, should this one fall behind or stop.
///
/// Measured (`scripts/benchmark e2e`, 500 orders/s straight to the services, alternating runs):
/// `POST /rentals` p99 8.0 and 7.3 ms against 9.0 and 8.5 ms without; with the consumers stopped,
/// Rental's own p99 3.5 ms against 4.3 and 4.7 ms. A 10,000-page log checkpointed by the writer
/// instead (fewer, larger copies) was worse: p99 13.2 and 11.3 ms, ~22 ms stalls every 1.3 s.
public struct WALCheckpointer: Service {
    /// The writer's own checkpoint threshold while this runs (SQLite's default is 1,000).
    public static let backstopPages = 10_000

    private let writer: DatabasePool
    private let interval: Duration
    private let logger: Logger

    public init(writer: DatabasePool, interval: Duration = .milliseconds(100), logger: Logger) {
        self.writer = writer
        self.interval = interval
        self.logger = logger
    }

    /// Checkpoints every `interval` until the service group shuts down, then hands the job back to
    /// the writer at the threshold it had.
    public func run() async throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(2)
        configuration.label = "checkpointer"
        // Its own connection: the checkpoint's copy and fsyncs happen on this connection's queue,
        // beside the writer's. Its `synchronous` is the default (FULL): SQLite syncs the log before
        // a checkpoint and the database file after it in FULL and NORMAL alike.
        let connection = try DatabaseQueue(path: writer.path, configuration: configuration)
        let writerPages = try await writer.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") ?? 1000
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.backstopPages)")
            return pages
        }
        try? await cancelWhenGracefulShutdown { [self] in
            var failing = false
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    _ = try await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                    failing = false
                } catch is CancellationError {
                    return
                } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                    continue  // another process on the same file is checkpointing it: nothing to say
                } catch {
                    // A full disk, for instance: the next round tries again.
                    if !failing { logger.warning("checkpoint failed, trying again", metadata: ["error": "\(error)"]) }
                    failing = true
                }
            }
        }
        try? await writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = \(writerPages)") }
        try? connection.close()
    }
}

extension WALCheckpointer: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "WALCheckpointer" }
}
