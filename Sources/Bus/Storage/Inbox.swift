import GRDB
import Primitives

/// The idempotent-consumer inbox: a handler that writes SQLite records the event id in the same
/// transaction as its effects. A redelivered event finds its id there and changes nothing.
public enum Inbox {
    /// Records that `handler` is processing `eventId`. Returns false when it already did, in which
    /// case the caller must skip its effects. Call it inside the handler's write transaction.
    public static func firstDelivery(of eventId: String, to handler: String, in db: Database) throws -> Bool {
        // Compiled once per connection: this runs for every event every consumer applies.
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO inbox(handler, eventId, processedAt) VALUES (?, ?, ?)")
            .execute(arguments: [handler, eventId, Timestamp.milliseconds()])
        return db.changesCount > 0
    }

    /// Forgets ids older than `olderThan` milliseconds since 1970. Redelivery beyond that window
    /// is not expected: pending entries are claimed or dead-lettered within minutes.
    public static func prune(olderThan cutoff: Int64, in db: Database) throws {
        try db.execute(sql: "DELETE FROM inbox WHERE processedAt < ?", arguments: [cutoff])
    }
}
