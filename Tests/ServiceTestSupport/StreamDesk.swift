import Bus
import Foundation
import GRDB
import Logging
import Redis
import ServiceKit
import TestSupport

/// A private Redis and, done by hand and in the open, what the relay and the consumers do with it:
/// for tests of a service's database against the streams (its recovery) without the moving parts.
public final class StreamDesk: Sendable {
    public let redis: RedisServer
    public let client: RedisClient

    public init() async throws {
        redis = try await RedisServer()
        client = RedisClient(endpoint: redis.endpoint, logger: Logger(label: "stream-desk"))
    }

    deinit { client.close() }

    /// Creates `group` on `stream` from its start (and the stream, if need be).
    public func createGroup(_ group: String, on stream: String) async throws {
        try await client.command(["XGROUP", "CREATE", stream, group, "0", "MKSTREAM"]).orThrow()
    }

    /// Publishes the database's unpublished outbox rows to their streams and marks them as the relay does.
    @discardableResult
    public func publish(_ database: any DatabaseWriter) async throws -> Int {
        let rows = try await database.read { db in
            try OutboxRecord.filter(Column("publishedAt") == nil).order(Column("sequence")).fetchAll(db)
        }
        for row in rows {
            let id = try await client.command(["XADD", row.stream, "*"] + row.event.envelope.fields).orThrow().string ?? ""
            try await database.write { db in
                try db.execute(
                    sql: "UPDATE outbox SET publishedAt = ?, publishedId = ?, claimedBy = NULL WHERE sequence = ?",
                    arguments: [Int64(Date().timeIntervalSince1970 * 1000), id, row.sequence])
            }
        }
        return rows.count
    }

    /// Adds an event of another service to its stream.
    public func add(_ event: OutgoingEvent) async throws {
        try await client.command(["XADD", event.stream, "*"] + event.envelope.fields).orThrow()
    }

    /// Delivers `group`'s new entries of `stream` to `routes`, one batch, and acknowledges them.
    @discardableResult
    public func deliver(_ stream: String, as group: String, to routes: EventRoutes) async throws -> Int {
        let reply = try await client.command(["XREADGROUP", "GROUP", group, "desk", "COUNT", "1000", "STREAMS", stream, ">"]).orThrow()
        let entries = StreamEntry.parseRead(reply)
        let events = try entries.map { entry in
            ReceivedEvent(envelope: try EventEnvelope(fieldList: entry.fieldList ?? []), stream: stream, entryId: entry.id, attempt: 1)
        }
        guard !events.isEmpty else { return 0 }
        for outcome in await routes.batchHandler(events) { if let outcome { throw outcome } }
        try await client.command(["XACK", stream, group] + entries.map(\.id)).orThrow()
        return events.count
    }

    /// A copy of the database as `bookdelivery backup` makes it (`VACUUM INTO`), at a new path.
    public static func backup(_ database: any DatabaseWriter) async throws -> String {
        let path = try temporaryDatabasePath("backup")
        try await database.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
        return path
    }

    /// Every row of `tables`, as text, for comparing two databases.
    public static func contents(of database: any DatabaseReader, tables: [String]) async throws -> [String: [String]] {
        try await database.read { db in
            var contents: [String: [String]] = [:]
            for table in tables {
                contents[table] = try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1").map(\.description)
            }
            return contents
        }
    }

    /// How Redis saw the stream: entries ever added.
    public func entriesAdded(_ stream: String) async throws -> Int {
        try await client.streamInfo(stream)?.entriesAdded ?? 0
    }
}
