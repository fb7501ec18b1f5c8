import Bus
import Contracts
import Foundation
import Primitives
import Redis
import ServiceKit

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

    /// How many entries `Streams.lookupChanges` keeps, about: each change of a view, as `rentalId` and `customerId`: what the
    /// gateway's live pages follow. Written in the same script as the view, so a reader that sees the
    /// change and then reads the view reads the changed view.
    static let changesLength = 10_000

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

    /// Whether Redis, where the views live, answers.
    public func ping() async throws {
        try await pool.client.command(["PING"]).orThrow()
    }

    public func view(rentalId: String) async throws -> RentalView? {
        RentalView(hash: try await pool.client.command(["HGETALL", Self.rentalKey(rentalId)]).orThrow().hash)
    }

    /// The customer's rentals, newest order first, a page at a time (one more than asked), each
    /// with its score in the customer's sorted set (the page cursor's position).
    ///
    /// Equal scores are ordered by id (descending, as `ZRANGE … REV` orders them); a page after
    /// `(score, id)` starts at the first entry below that pair. A cursor's position is a score (a
    /// number: the controller turns away others).
    public func views(customerId: String, page: PageRequest) async throws -> [(view: RentalView, score: String)] {
        let client = pool.client
        let key = Self.customerKey(customerId)
        var entries: [(id: String, score: String)]
        if let after = page.after {
            let ties = try await client.command(["ZCOUNT", key, after.position, after.position]).orThrow().int ?? 0
            let count = page.limit + 1 + ties
            entries = try await client.command([
                "ZRANGE", key, after.position, "-inf", "BYSCORE", "REV", "LIMIT", "0", String(count), "WITHSCORES",
            ])
            .orThrow().scoredMembers
            entries.removeAll { Double($0.score) == Double(after.position) && $0.id >= after.id }
        } else {
            entries = try await client.command([
                "ZRANGE", key, "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", String(page.limit + 1), "WITHSCORES",
            ])
            .orThrow().scoredMembers
        }
        entries = Array(entries.prefix(page.limit + 1))
        guard !entries.isEmpty else { return [] }
        let replies = try await client.pipeline(entries.map { ["HGETALL", Self.rentalKey($0.id)] })
        return try zip(replies, entries).compactMap { reply, entry in
            RentalView(hash: try reply.orThrow().hash).map { (view: $0, score: entry.score) }
        }
    }

    /// What a rebuild did.
    public struct RebuildReport: Sendable, Equatable {
        /// Events read from the streams.
        public var events: Int
        /// Views whose order is in the streams: deleted and rebuilt from the events alone.
        public var rebuilt: Int
        /// Views whose order is older than the streams' history (trimmed): kept, and only moved
        /// forward by the events that are still there.
        public var kept: Int
        /// The time of each stream's first entry, the furthest back the rebuild could read; nil for an empty stream.
        public var readFrom: [String: String?]

        public var summary: String {
            let from = readFrom.keys.sorted().map { "\($0) from \(readFrom[$0].flatMap { $0 } ?? "(empty)")" }
            return "rebuilt \(rebuilt) Lookup views from \(events) events (\(from.joined(separator: ", ")));"
                + " kept \(kept) views whose orders are older than the streams' history"
        }
    }

    /// Rebuilds the views from the streams: the views come out as they were, because they are a
    /// function of the events alone. Only views whose order (`RentalOrdered`) is still in the streams
    /// are deleted and rebuilt; a view whose history was trimmed is kept, never lost.
    public func rebuild(streams: [String], batchSize: Int = 1000) async throws -> RebuildReport {
        let client = pool.client
        var orders: [String: String] = [:]  // rental id → customer id, for the rentals whose order is in the streams
        var readFrom: [String: String?] = [:]
        var events = 0
        for stream in streams {
            readFrom[stream] = .some(nil)
            try await forEachPage(of: stream, batchSize: batchSize) { page in
                if readFrom[stream] == .some(nil), let first = page.first.flatMap({ StreamID($0.entry.id) }) {
                    readFrom[stream] = Timestamp.string(from: Date(timeIntervalSince1970: Double(first.milliseconds) / 1000))
                }
                events += page.count
                for case (_, let envelope?) in page where envelope.type == RentalOrdered.type {
                    guard let order = try? envelope.payload(as: RentalOrdered.self) else { continue }
                    orders[order.rentalId] = order.customerId
                }
            }
        }
        let existing = Set(try await client.scanKeys(matching: Self.rentalKey("*")))
        var deletions: [[String]] = []
        for (rentalId, customerId) in orders {
            deletions.append(["UNLINK", Self.rentalKey(rentalId)])
            deletions.append(["ZREM", Self.customerKey(customerId), rentalId])
        }
        for start in stride(from: 0, to: deletions.count, by: 1000) {
            for reply in try await client.pipeline(Array(deletions[start..<min(start + 1000, deletions.count)])) { try reply.orThrow() }
        }
        for stream in streams {
            // A page at a time: every command carries the script, so a whole stream's would not fit in memory.
            try await forEachPage(of: stream, batchSize: batchSize) { page in
                let commands = page.compactMap { $0.envelope.flatMap { try? ViewUpdate.from($0) }.map(ViewScript.command(for:)) }
                guard !commands.isEmpty else { return }
                for reply in try await client.pipeline(commands) { try reply.orThrow() }
            }
        }
        let kept = existing.subtracting(orders.keys.map(Self.rentalKey)).count
        return RebuildReport(events: events, rebuilt: orders.count, kept: kept, readFrom: readFrom)
    }

    /// The entries of `stream` in order, a page at a time, each with its envelope when it is one.
    private func forEachPage(
        of stream: String, batchSize: Int, _ body: ([(entry: StreamEntry, envelope: EventEnvelope?)]) async throws -> Void
    ) async throws {
        var after: String?
        while true {
            let entries = try await pool.client.range(of: stream, after: after, count: batchSize)
            try await body(entries.map { ($0, $0.fieldList.flatMap { try? EventEnvelope(fieldList: $0) }) })
            guard entries.count == batchSize, let last = entries.last else { return }
            after = last.id
        }
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

extension RedisReply {
    /// A `… WITHSCORES` reply, `[member, score, member, score, …]`, in order.
    fileprivate var scoredMembers: [(id: String, score: String)] {
        let items = strings
        return stride(from: 0, to: items.count - 1, by: 2).map { (id: items[$0], score: items[$0 + 1]) }
    }
}
