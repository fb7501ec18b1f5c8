import GRDB
import Redis

/// The newest entry of each stream that a consuming group applied in this database, written in the
/// transaction of the batch that applied it. It is where a restored backup left off: the service
/// catches up on the streams from there (``RecoveryMarks``) and `bookdelivery backup` shows it.
///
/// The inbox alone could not say it: it holds event ids, not entry ids, and forgets them after its
/// window. A batch of events none of which the group handles writes nothing (no transaction for it,
/// see `EventRoutes`): the position is that of the last batch it applied.
public enum ConsumerPositions {
    /// Moves `group`'s position on each stream of `entries` forward to its newest entry there.
    public static func advance(_ group: String, to entries: [(stream: String, entryId: String)], in db: Database) throws {
        var newest: [String: StreamID] = [:]
        for (stream, entryId) in entries {
            guard let id = StreamID(entryId) else { continue }
            newest[stream] = max(newest[stream] ?? id, id)
        }
        for (stream, id) in newest {
            try db.cachedStatement(
                sql: """
                    INSERT INTO consumer_positions(handler, stream, milliseconds, sequence) VALUES (?, ?, ?, ?)
                    ON CONFLICT(handler, stream) DO UPDATE SET milliseconds = excluded.milliseconds, sequence = excluded.sequence
                    WHERE (excluded.milliseconds, excluded.sequence) > (consumer_positions.milliseconds, consumer_positions.sequence)
                    """
            ).execute(arguments: [group, stream, Int64(id.milliseconds), Int64(id.sequence)])
        }
    }

    /// `group`'s position on each stream it applied events of.
    public static func of(_ group: String, in db: Database) throws -> [String: StreamID] {
        var positions: [String: StreamID] = [:]
        for row in try Row.fetchAll(
            db, sql: "SELECT stream, milliseconds, sequence FROM consumer_positions WHERE handler = ?", arguments: [group])
        {
            positions[row["stream"]] = StreamID(
                milliseconds: UInt64(row["milliseconds"] as Int64), sequence: UInt64(row["sequence"] as Int64))
        }
        return positions
    }

    /// Every group's positions: (group, stream, entry id), for `bookdelivery backup`'s summary.
    public static func all(in db: Database) throws -> [(group: String, stream: String, id: StreamID)] {
        try Row.fetchAll(db, sql: "SELECT handler, stream, milliseconds, sequence FROM consumer_positions ORDER BY handler, stream").map {
            (
                $0["handler"], $0["stream"],
                StreamID(milliseconds: UInt64($0["milliseconds"] as Int64), sequence: UInt64($0["sequence"] as Int64))
            )
        }
    }
}
