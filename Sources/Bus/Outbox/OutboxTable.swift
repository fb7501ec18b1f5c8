import GRDB
import Primitives
import Redis

/// The relay's statements on the `outbox` table, each one transaction.
struct OutboxTable: Sendable {
    let database: any DatabaseWriter

    /// Claims up to `limit` unpublished rows, in order, for `relay` until `leaseEnd`: rows nobody
    /// holds, whose lease ran out, or that this relay held already (a restart under the same name,
    /// rows claimed for it as they were inserted). Rows `handoff` holds are not claimed again: if it
    /// holds any, they are the batch. A claim that finds less than a batch resumes the hand-off when
    /// it commits: every row committed after it is then newer than the rows it took.
    func claim(_ limit: Int, for relay: String, now: Int64, leaseEnd: Int64, handoff: OutboxHandoff) async throws -> [OutboxRecord] {
        try await bookkeeping { db in
            // On the writer, between commits: nothing can be handed over meanwhile.
            let handed = handoff.take(limit)
            guard handed.isEmpty else { return handed }
            let rows = try OutboxRecord.fetchAll(
                db,
                sql: """
                    UPDATE outbox SET claimedBy = ?, claimedUntil = ?
                    WHERE sequence IN (
                        SELECT sequence FROM outbox
                        WHERE publishedAt IS NULL AND setAsideAt IS NULL
                            AND (claimedUntil IS NULL OR claimedUntil < ? OR claimedBy = ?)
                        ORDER BY sequence LIMIT ?)
                    RETURNING *
                    """,
                arguments: [relay, leaseEnd, now, relay, limit])
            if rows.count < limit { db.afterNextTransaction(onCommit: { _ in handoff.resume() }) }
            return rows.sorted { $0.sequence < $1.sequence }
        }
    }

    /// Records what became of a claimed batch: published rows with their entry ids; failed rows
    /// released with their error, each set aside once it has failed as often as its limit says.
    func settle(published: [(Int64, StreamID)], failed: [(sequence: Int64, error: String, setAsideAfter: Int)], now: Int64) async throws
        -> [Int64]
    {
        try await bookkeeping { db in
            // One statement for the batch: the entry ids come in as a VALUES table.
            for start in stride(from: 0, to: published.count, by: 400) {
                let chunk = published[start..<min(start + 400, published.count)]
                var arguments: StatementArguments = [now]
                for (sequence, id) in chunk { arguments += [sequence, id.description] }
                try db.execute(
                    sql: """
                        UPDATE outbox SET publishedAt = ?, publishedId = ids.column2, claimedBy = NULL, claimedUntil = NULL
                        FROM (VALUES \(chunk.map { _ in "(?, ?)" }.joined(separator: ", "))) AS ids
                        WHERE outbox.sequence = ids.column1
                        """,
                    arguments: arguments)
            }
            var setAside: [Int64] = []
            for (sequence, error, setAsideAfter) in failed {
                try db.execute(
                    sql: """
                        UPDATE outbox SET failures = failures + 1, lastError = ?, claimedBy = NULL, claimedUntil = NULL,
                            setAsideAt = CASE WHEN failures + 1 >= ? THEN ? ELSE NULL END
                        WHERE sequence = ?
                        """,
                    arguments: [error, setAsideAfter, now, sequence])
                if try Int64.fetchOne(db, sql: "SELECT setAsideAt FROM outbox WHERE sequence = ?", arguments: [sequence]) != nil {
                    setAside.append(sequence)
                }
            }
            return setAside
        }
    }

    /// Gives claimed rows back untouched (Redis refused for now: out of memory, loading, …).
    func release(_ sequences: [Int64]) async throws {
        guard !sequences.isEmpty else { return }
        try await bookkeeping { db in
            try db.execute(
                sql:
                    "UPDATE outbox SET claimedBy = NULL, claimedUntil = NULL WHERE sequence IN (\(sequences.map { _ in "?" }.joined(separator: ",")))",
                arguments: StatementArguments(sequences))
        }
    }

    /// A transaction of the relay's own bookkeeping (claims, published marks), committed without
    /// waiting for the disk. Losing one to a power cut only means rows are claimed or published
    /// again, which the leases and the consumers' inbox already absorb; and the next durable commit
    /// (an order's) syncs the write-ahead log up to and including it. With `synchronous = FULL` each
    /// relay batch would otherwise cost two more fsyncs on the one writer, while the service's own
    /// writes wait: with fsync made 1 ms slower, a fifth fewer orders per second.
    private func bookkeeping<T: Sendable>(_ change: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await database.writeWithoutTransaction { db in
            // Not a cached statement: SQLite puts the setting into the program when it compiles it.
            let synchronous = try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? 2
            if synchronous > 1 { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            let outcome = Result {
                var output: T?
                try db.inTransaction(.immediate) {
                    output = try change(db)
                    return .commit
                }
                return output!
            }
            // Back to the service's setting before anything else writes (a failure here is thrown).
            if synchronous > 1 { try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
            return try outcome.get()
        }
    }

    /// The published rows of `stream` still kept, as (sequence, entry id), oldest entry first.
    func published(on stream: String) async throws -> [(sequence: Int64, id: StreamID)] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT sequence, publishedId FROM outbox WHERE stream = ? AND publishedId IS NOT NULL", arguments: [stream]
            )
            .compactMap { row in (row["publishedId"] as String?).flatMap(StreamID.init).map { (row["sequence"], $0) } }
            .sorted { $0.id < $1.id }
        }
    }

    /// The greatest entry id among the latest published rows of `stream` (``RecoveryMarks/lastPublished(on:in:)``).
    func lastPublishedID(on stream: String) async throws -> StreamID? {
        try await database.read { db in try RecoveryMarks.lastPublished(on: stream, in: db)?.id }
    }

    /// The streams this outbox has published to and still keeps rows of.
    func publishedStreams() async throws -> [String] {
        try await database.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT stream FROM outbox WHERE publishedId IS NOT NULL")
        }
    }

    /// Marks rows unpublished again, so that the relay sends them once more.
    func reopen(_ sequences: [Int64]) async throws {
        for start in stride(from: 0, to: sequences.count, by: 500) {
            let chunk = Array(sequences[start..<min(start + 500, sequences.count)])
            try await database.write { db in
                try db.execute(
                    sql: """
                        UPDATE outbox SET publishedAt = NULL, publishedId = NULL, claimedBy = NULL, claimedUntil = NULL
                        WHERE sequence IN (\(chunk.map { _ in "?" }.joined(separator: ",")))
                        """,
                    arguments: StatementArguments(chunk))
            }
        }
    }

    /// Deletes published rows older than `cutoff` (ms since 1970), but the newest of each stream.
    func prune(publishedBefore cutoff: Int64) async throws {
        try await database.write { db in
            // The newest published row of each stream stays: it marks where the stream's history
            // continues this database's, which a restored backup catches up from (``RecoveryMarks``).
            try db.execute(
                sql: """
                    DELETE FROM outbox WHERE publishedAt IS NOT NULL AND publishedAt < ?
                    AND sequence < (SELECT max(sequence) FROM outbox AS newest WHERE newest.stream = outbox.stream AND newest.publishedId IS NOT NULL)
                    """, arguments: [cutoff])
        }
    }

    /// Rows committed but not on their stream yet (set-aside ones apart), the oldest one's
    /// `occurredAt`, and set-aside rows. Each read goes through a partial index of the few rows it counts.
    func counts() async throws -> OutboxCounts {
        try await database.read { db in
            let backlog = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE publishedAt IS NULL AND setAsideAt IS NULL") ?? 0
            let oldest = try String.fetchOne(
                db, sql: "SELECT occurredAt FROM outbox WHERE publishedAt IS NULL AND setAsideAt IS NULL ORDER BY sequence LIMIT 1")
            let setAside = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE setAsideAt IS NOT NULL") ?? 0
            return OutboxCounts(backlog: backlog, setAside: setAside, oldestUnpublished: oldest.flatMap(Timestamp.milliseconds(from:)))
        }
    }
}

/// What `/health` and `/metrics` say of an outbox.
public struct OutboxCounts: Sendable, Equatable {
    /// Events committed and not yet marked published (not on their stream yet, or gone out within
    /// the relay's last mark interval).
    public var backlog: Int
    /// Events set aside as ones that can never be published.
    public var setAside: Int
    /// When the oldest event of the backlog happened (ms since 1970); nil for an empty backlog.
    public var oldestUnpublished: Int64?
}
