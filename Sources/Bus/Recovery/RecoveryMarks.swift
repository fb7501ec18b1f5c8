import GRDB
import Primitives
import Redis

/// What a service's database says of where it stands on the streams: the reads and writes with
/// which a service started on a restored backup catches up on them (`StreamRecovery` in ServiceKit).
///
/// - On its own stream: the last event its outbox published (the newest published row, which the
///   relay never prunes) — later entries there are changes this database lacks, or rows of it that
///   went out but were not yet marked.
/// - On the streams it consumes: each group's ``ConsumerPositions`` and its inbox.
public enum RecoveryMarks {
    /// The newest published row of `stream`: its sequence and entry id; nil when none was published.
    public static func lastPublished(on stream: String, in db: Database) throws -> (sequence: Int64, id: StreamID)? {
        // Ids grow with publishing time; the last thousand rows in insertion order hold the newest
        // (a row published again after a loss took a later id than rows after it).
        try Row.fetchAll(
            db,
            sql: "SELECT sequence, publishedId FROM outbox WHERE stream = ? AND publishedId IS NOT NULL ORDER BY sequence DESC LIMIT 1000",
            arguments: [stream]
        )
        .compactMap { row in (row["publishedId"] as String?).flatMap(StreamID.init).map { (sequence: row["sequence"] as Int64, id: $0) } }
        .max { $0.id < $1.id }
    }

    /// The outbox rows after `sequence` (all rows when nil) and every unpublished one, by event id:
    /// whether each was published.
    public static func outboxRows(after sequence: Int64?, in db: Database) throws -> [String: (sequence: Int64, published: Bool)] {
        var rows: [String: (sequence: Int64, published: Bool)] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT sequence, eventId, publishedAt IS NOT NULL AS published FROM outbox WHERE sequence > ?
                UNION SELECT sequence, eventId, 0 FROM outbox WHERE publishedAt IS NULL AND setAsideAt IS NULL
                """,
            arguments: [sequence ?? 0])
        {
            rows[row["eventId"]] = (row["sequence"], row["published"])
        }
        return rows
    }

    /// The largest outbox sequence so far (0 for none): rows inserted later are this recovery's.
    public static func lastSequence(in db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT coalesce(max(sequence), 0) FROM outbox") ?? 0
    }

    /// Which of `eventIds` `handler` has in its inbox.
    public static func processed(_ eventIds: [String], by handler: String, in db: Database) throws -> Set<String> {
        var found: Set<String> = []
        for start in stride(from: 0, to: eventIds.count, by: 500) {
            let chunk = Array(eventIds[start..<min(start + 500, eventIds.count)])
            found.formUnion(
                try String.fetchAll(
                    db,
                    sql: "SELECT eventId FROM inbox WHERE handler = ? AND eventId IN (\(chunk.map { _ in "?" }.joined(separator: ",")))",
                    arguments: StatementArguments([handler] + chunk)))
        }
        return found
    }

    /// The ``ConsumerPositions`` name under which a stream's published position is kept when the
    /// outbox holds no published row of it: a database from before the relay kept the newest one.
    public static let publishedFloor = "(outbox)"

    /// Whether the database was in use before it had marks (``ConsumerPositions``, the newest
    /// published row kept): its first start then takes it as current instead of catching up.
    public static func predatesMarks(_ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM recovery_baseline)") ?? false
    }

    /// The database has its marks now.
    public static func markedAsCurrent(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM recovery_baseline")
    }

    /// Marks rows that went out before the loss, as the stream shows, as published with their entry ids.
    public static func markPublished(_ rows: [(sequence: Int64, id: StreamID)], in db: Database) throws {
        let now = Timestamp.milliseconds()
        for (sequence, id) in rows {
            try db.execute(
                sql: "UPDATE outbox SET publishedAt = ?, publishedId = ?, claimedBy = NULL, claimedUntil = NULL WHERE sequence = ?",
                arguments: [now, id.description, sequence])
        }
    }

    /// Keeps an event of the service's own stream that this database lacked as a published row,
    /// as the relay would have left it: its loss check and re-publishing then know it.
    public static func recordPublished(_ envelope: EventEnvelope, on stream: String, as id: StreamID, in db: Database) throws {
        try db.insertRow(
            into: OutboxRecord.databaseTableName,
            [
                "stream": stream, "eventId": envelope.id, "type": envelope.type, "key": envelope.key,
                "occurredAt": envelope.occurredAt, "correlationId": envelope.correlationId, "causationId": envelope.causationId,
                "data": envelope.data, "requestId": envelope.requestId, "traceParent": envelope.traceParent,
                "traceState": envelope.traceState, "publishedAt": Timestamp.milliseconds(), "publishedId": id.description,
            ])
    }

    /// Deletes the unpublished rows after `sequence` caused by one of `causes` (event ids): answers
    /// the recovery made again to events whose answers are already on the stream.
    @discardableResult
    public static func dropAnswers(to causes: Set<String>, after sequence: Int64, in db: Database) throws -> Int {
        guard !causes.isEmpty else { return 0 }
        let rows = try Row.fetchAll(
            db, sql: "SELECT sequence, causationId FROM outbox WHERE sequence > ? AND publishedAt IS NULL", arguments: [sequence])
        let doomed: [Int64] = rows.filter { causes.contains($0["causationId"] as String) }.map { $0["sequence"] }
        for sequence in doomed { try db.execute(sql: "DELETE FROM outbox WHERE sequence = ?", arguments: [sequence]) }
        return doomed.count
    }
}
