import Bus
import Contracts
import Redis

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

    /// Applies a batch of events in one pipelined round trip; returns one outcome per event (nil:
    /// applied). Events that don't concern rental views are skipped. Idempotent.
    public func apply(_ envelopes: [EventEnvelope]) async -> [(any Error)?] {
        var outcomes = [(any Error)?](repeating: nil, count: envelopes.count)
        var commands: [[String]] = []
        var positions: [Int] = []
        for (position, envelope) in envelopes.enumerated() {
            do {
                guard let update = try ViewUpdate.from(envelope) else { continue }
                commands.append(ViewScript.command(for: update))
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

    public func view(rentalId: String) async throws -> RentalView? {
        RentalView(hash: try await pool.client.command(["HGETALL", Self.rentalKey(rentalId)]).orThrow().hash)
    }

    /// The customer's rentals, newest order first.
    public func views(customerId: String) async throws -> [RentalView] {
        let client = pool.client
        let ids = try await client.command(["ZREVRANGE", Self.customerKey(customerId), "0", "-1"]).orThrow().strings
        guard !ids.isEmpty else { return [] }
        let replies = try await client.pipeline(ids.map { ["HGETALL", Self.rentalKey($0)] })
        return try replies.compactMap { RentalView(hash: try $0.orThrow().hash) }
    }

    /// Deletes every view, then replays both streams from their first entry: the views come out as
    /// they were, because they are a function of the events alone. Returns the number of events read.
    public func rebuild(streams: [String], batchSize: Int = 1000) async throws -> Int {
        let client = pool.client
        let keys = try await client.scanKeys(matching: Self.keyPrefix + "*")
        for start in stride(from: 0, to: keys.count, by: 1000) {
            try await client.command(["UNLINK"] + keys[start..<min(start + 1000, keys.count)]).orThrow()
        }
        var applied = 0
        for stream in streams {
            var after: String?
            while true {
                let entries = try await client.range(of: stream, after: after, count: batchSize)
                let commands = entries.compactMap { entry -> [String]? in
                    guard let fields = entry.fields, let envelope = try? EventEnvelope(fields: fields),
                        let update = try? ViewUpdate.from(envelope)
                    else { return nil }
                    return ViewScript.command(for: update)
                }
                if !commands.isEmpty {
                    for reply in try await client.pipeline(commands) { try reply.orThrow() }
                }
                applied += entries.count
                guard entries.count == batchSize, let last = entries.last else { break }
                after = last.id
            }
        }
        return applied
    }
}

extension RentalView {
    /// Reads a view hash; nil when the hash is empty (no such rental).
    init?(hash: [String: String]) {
        guard let rentalId = hash["rentalId"] else { return nil }
        self.init(
            rentalId: rentalId, customerId: hash["customerId"] ?? "", bookId: hash["bookId"] ?? "",
            bookTitle: hash["bookTitle"] ?? "", status: hash["status"].flatMap(RentalStatus.init) ?? .ordered,
            deliveryStatus: hash["deliveryStatus"].flatMap(DeliveryStatus.init), updatedAt: hash["updatedAt"] ?? "")
    }
}
