import Bus
import GRDB
import Logging
import ServiceLifecycle

/// Copies the write-ahead log into the database file from a connection of its own, in small steps
/// soon after the writes, so that the writer does not.
///
/// SQLite's default is that the commit which takes the log past 1,000 pages does the copy, in the
/// writer's connection, before it returns: at 500 orders/s that was one commit every ~170 ms (an
/// order writes ~15 pages counting the relay's bookkeeping), each holding up the writer queue, and
/// so every write queued behind it, for the copy and two fsyncs (a cluster of 2–4 orders answered
/// ~8 ms late each time, seen in per-request latencies over time). A passive checkpoint from another
/// connection takes no write lock: the writer keeps committing while it runs. The writer still
/// checkpoints itself past `backstopPages`, should this one fall behind or stop.
///
/// Small steps, because a checkpoint still holds up the commits that coincide with it: its writes
/// and its fsync of the database file share the disk with each commit's fsync of the log, and the
/// more pages it copies, the longer. With a checkpoint every 100 ms, the `POST /rentals` answers
/// that took over 3 ms at 500 orders/s came in clusters with a period of 104 ms (100 ms plus the
/// checkpoint's own time: the phase of 238 such answers out of 7,500 concentrated with a resultant
/// of 0.6 at that period, with `benchmark e2e --trace`). Measured (500 orders/s straight to the services, p99 of
/// `POST /rentals`): every 1 s 6.4 and 6.7 ms; every 100 ms 4.4–4.8 ms; 50 ms 3.2 ms; 30 ms 2.5–3.0 ms;
/// 10 ms 2.8 and 3.2 ms. The interval counts from the first commit after a checkpoint, so an idle
/// service does not wake for it.
public struct WALCheckpointer: Service {
    /// The writer's own checkpoint threshold while this runs (SQLite's default is 1,000).
    public static let backstopPages = 10_000

    private let writer: DatabasePool
    private let interval: Duration
    private let logger: Logger

    /// Checkpoints `interval` after the first commit since the last checkpoint.
    public init(writer: DatabasePool, interval: Duration = .milliseconds(25), logger: Logger) {
        self.writer = writer
        self.interval = interval
        self.logger = logger
    }

    /// Checkpoints after writes until the service group shuts down, then hands the job back to the
    /// writer at the threshold it had.
    public func run() async throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(2)
        configuration.label = "checkpointer"
        // Its own connection: the checkpoint's copy and fsyncs happen on this connection's queue,
        // beside the writer's. Its `synchronous` is the default (FULL): SQLite syncs the log before
        // a checkpoint and the database file after it in FULL and NORMAL alike.
        let connection = try DatabaseQueue(path: writer.path, configuration: configuration)
        let commits = CommitSignal()
        let writerPages = try await writer.writeWithoutTransaction { db in
            db.add(transactionObserver: commits, extent: .observerLifetime)
            let pages = try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") ?? 1000
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.backstopPages)")
            return pages
        }
        commits.signal.wake()  // the log may hold pages from before this start
        try? await cancelWhenGracefulShutdown { [self] in
            var failing = false
            while !Task.isCancelled {
                await commits.signal.wait()
                try await Task.sleep(for: interval)  // the commits of the next moments join this copy
                do {
                    _ = try await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                    failing = false
                } catch is CancellationError {
                    return
                } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                    commits.signal.wake()  // another process on the same file is checkpointing it: later
                } catch {
                    // A full disk, for instance: the next round tries again.
                    if !failing { logger.warning("checkpoint failed, trying again", metadata: ["error": "\(error)"]) }
                    failing = true
                    commits.signal.wake()
                }
            }
        }
        try? await writer.writeWithoutTransaction { db in
            db.remove(transactionObserver: commits)
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(writerPages)")
        }
        try? connection.close()
    }
}

extension WALCheckpointer: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "WALCheckpointer" }
}

/// Wakes the checkpointer when the writer commits; it observes no rows, so the statements pay
/// nothing for it.
private final class CommitSignal: TransactionObserver, Sendable {
    let signal = WakeSignal()

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { signal.wake() }
    func databaseDidRollback(_ db: Database) {}
}
