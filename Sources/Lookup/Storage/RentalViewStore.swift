import Bus
import Foundation

/// The materialized views in Redis:
/// - `lookup:rental:{rentalId}`: a hash per rental (the ``RentalView`` fields plus the ranks that guard them);
/// - `lookup:customer:{customerId}:rentals`: a sorted set of the customer's rental ids by order time.
///
/// Every update runs as one Lua script, so the rank check and the write are atomic even with
/// several Lookup processes applying events of one rental at once.
public struct RentalViewStore: Sendable {
    public static let keyPrefix = "lookup:"
    let pool: RedisClientPool

    public init(pool: RedisClientPool) {
        self.pool = pool
    }

    static func rentalKey(_ rentalId: String) -> String { "lookup:rental:\(rentalId)" }
    static func customerKey(_ customerId: String) -> String { "lookup:customer:\(customerId):rentals" }

    /// Applies one event; events that don't concern rental views are ignored. Idempotent.
    public func apply(_ envelope: EventEnvelope) async throws {
        guard let update = try ViewUpdate.from(envelope) else { return }
        try await pool.client.command(Self.command(for: update)).orThrow()
    }

    /// Applies a batch of events in one pipelined round trip; returns one outcome per event (nil: applied).
    public func apply(_ envelopes: [EventEnvelope]) async -> [(any Error)?] {
        var outcomes = [(any Error)?](repeating: nil, count: envelopes.count)
        var commands: [[String]] = []
        var positions: [Int] = []
        for (position, envelope) in envelopes.enumerated() {
            do {
                guard let update = try ViewUpdate.from(envelope) else { continue }
                commands.append(Self.command(for: update))
                positions.append(position)
            } catch {
                outcomes[position] = error
            }
        }
        guard !commands.isEmpty else { return outcomes }
        do {
            let replies = try await pool.client.pipeline(commands)
            for (reply, position) in zip(replies, positions) {
                if case .error(let message) = reply { outcomes[position] = RedisError.server(message) }
            }
        } catch {
            for position in positions { outcomes[position] = error }
        }
        return outcomes
    }

    static func command(for update: ViewUpdate) -> [String] {
        let score = Timestamp.date(from: update.occurredAt).map { String(Int64($0.timeIntervalSince1970 * 1000)) } ?? "0"
        return ["EVAL", applyScript, "2", rentalKey(update.rentalId), customerKey(update.customerId),
                update.rentalId, update.customerId, update.bookId, update.bookTitle,
                update.status?.name ?? "", String(update.status?.rank ?? 0),
                update.deliveryStatus?.name ?? "", String(update.deliveryStatus?.rank ?? 0),
                update.occurredAt, score, update.isOrder ? "1" : "0"]
    }

    /// KEYS: view hash, customer index. ARGV: rentalId, customerId, bookId, bookTitle, status, statusRank,
    /// deliveryStatus, deliveryRank, occurredAt, score, isOrder.
    static let applyScript = """
        local view = KEYS[1]
        redis.call('HSET', view, 'rentalId', ARGV[1], 'customerId', ARGV[2])
        if ARGV[3] ~= '' then redis.call('HSET', view, 'bookId', ARGV[3]) end
        if ARGV[4] ~= '' then redis.call('HSET', view, 'bookTitle', ARGV[4]) end
        if ARGV[5] ~= '' and tonumber(ARGV[6]) > tonumber(redis.call('HGET', view, 'statusRank') or '0') then
            redis.call('HSET', view, 'status', ARGV[5], 'statusRank', ARGV[6])
        end
        if ARGV[7] ~= '' and tonumber(ARGV[8]) > tonumber(redis.call('HGET', view, 'deliveryRank') or '0') then
            redis.call('HSET', view, 'deliveryStatus', ARGV[7], 'deliveryRank', ARGV[8])
        end
        local updated = redis.call('HGET', view, 'updatedAt')
        if not updated or ARGV[9] > updated then redis.call('HSET', view, 'updatedAt', ARGV[9]) end
        if ARGV[11] == '1' then
            redis.call('ZADD', KEYS[2], ARGV[10], ARGV[1])
        else
            redis.call('ZADD', KEYS[2], 'NX', ARGV[10], ARGV[1])
        end
        return 1
        """

    public func view(rentalId: String) async throws -> RentalView? {
        let reply = try await pool.client.command(["HGETALL", Self.rentalKey(rentalId)]).orThrow()
        return RentalView(hash: Self.hash(reply))
    }

    /// The customer's rentals, newest order first.
    public func views(customerId: String) async throws -> [RentalView] {
        let client = pool.client
        let ids = try await client.command(["ZREVRANGE", Self.customerKey(customerId), "0", "-1"]).orThrow().array?.compactMap(\.string) ?? []
        guard !ids.isEmpty else { return [] }
        let replies = try await client.pipeline(ids.map { ["HGETALL", Self.rentalKey($0)] })
        return try replies.compactMap { RentalView(hash: Self.hash(try $0.orThrow())) }
    }

    /// Deletes every view, then replays both streams from their first entry: the views come out as
    /// they were, because they are a function of the events alone. Returns the number of events read.
    public func rebuild(streams: [String], batchSize: Int = 1000) async throws -> Int {
        let client = pool.client
        var cursor = "0"
        repeat {
            let reply = try await client.command(["SCAN", cursor, "MATCH", Self.keyPrefix + "*", "COUNT", "1000"]).orThrow()
            guard let parts = reply.array, parts.count == 2 else { throw RedisError.unexpectedReply("SCAN gave \(reply)") }
            cursor = parts[0].string ?? "0"
            let keys = (parts[1].array ?? []).compactMap(\.string)
            if !keys.isEmpty { try await client.command(["UNLINK"] + keys).orThrow() }
        } while cursor != "0"

        var applied = 0
        for stream in streams {
            var start = "-"
            while true {
                let reply = try await client.command(["XRANGE", stream, start, "+", "COUNT", String(batchSize)]).orThrow()
                let entries = (reply.array ?? []).compactMap { entry -> (String, [String: String])? in
                    guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { return nil }
                    return (id, Self.hash(parts[1]))
                }
                let commands = entries.compactMap { _, fields -> [String]? in
                    guard let envelope = try? EventEnvelope(fields: fields), let update = try? ViewUpdate.from(envelope) else { return nil }
                    return Self.command(for: update)
                }
                if !commands.isEmpty {
                    for reply in try await client.pipeline(commands) { try reply.orThrow() }
                }
                applied += entries.count
                guard entries.count == batchSize, let last = entries.last else { break }
                start = "(" + last.0
            }
        }
        return applied
    }

    static func hash(_ reply: RedisReply) -> [String: String] {
        let items = reply.array ?? []
        var result: [String: String] = [:]
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].string { result[key] = items[index + 1].string ?? "" }
            index += 2
        }
        return result
    }
}
