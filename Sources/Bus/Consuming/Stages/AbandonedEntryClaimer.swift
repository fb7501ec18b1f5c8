import Logging
import Redis

/// Stage "claim": takes over entries left pending past `idle` by any consumer of the group (crashed
/// or stuck) with `XAUTOCLAIM`, walking each stream's pending list a batch per scan.
struct AbandonedEntryClaimer {
    let client: RedisClient
    let streams: [String]
    let group: String
    let consumer: String
    let idle: Duration
    let interval: Duration
    let batchSize: Int
    let logger: Logger
    private var cursors: [String: String] = [:]
    private(set) var nextScan = ContinuousClock.now

    init(
        client: RedisClient, streams: [String], group: String, consumer: String, idle: Duration, interval: Duration,
        batchSize: Int, logger: Logger
    ) {
        self.client = client
        self.streams = streams
        self.group = group
        self.consumer = consumer
        self.idle = idle
        self.interval = interval
        self.batchSize = batchSize
        self.logger = logger
    }

    /// Claims abandoned entries when a scan is due; nothing otherwise.
    mutating func claimIfDue(now: ContinuousClock.Instant) async throws -> [Attempt] {
        guard now >= nextScan else { return [] }
        var attempts: [Attempt] = []
        for stream in streams { attempts += try await claim(on: stream) }
        nextScan = now + interval
        return attempts
    }

    /// Starts the next scan from the beginning of each pending list.
    mutating func restart() { cursors.removeAll() }

    private mutating func claim(on stream: String) async throws -> [Attempt] {
        let reply = try await client.command([
            "XAUTOCLAIM", stream, group, consumer, String(idle.milliseconds), cursors[stream] ?? "0-0", "COUNT", String(batchSize),
        ]).orThrow()
        guard let parts = reply.array, parts.count >= 2 else { throw RedisError.unexpectedReply("XAUTOCLAIM gave \(reply)") }
        cursors[stream] = parts[0].string ?? "0-0"
        if parts.count >= 3, let deleted = parts[2].array, !deleted.isEmpty {
            // Redis already removed these from the pending list: their data was trimmed or XDEL'd.
            logger.warning(
                "pending entries were deleted from the stream before being handled",
                metadata: ["stream": "\(stream)", "count": "\(deleted.count)"])
        }
        let entries = StreamEntry.parseList(stream: stream, parts[1])
        guard let first = entries.first, let last = entries.last else { return [] }
        // XAUTOCLAIM does not say how often each entry was tried: XPENDING does (the claim counted one).
        let pending = try await client.pending(
            on: stream, group: group, from: first.id, to: last.id, count: entries.count, consumer: consumer)
        let attempts = Dictionary(pending.map { ($0.id, $0.attempts) }, uniquingKeysWith: max)
        logger.info("claimed abandoned entries", metadata: ["stream": "\(stream)", "count": "\(entries.count)"])
        return entries.map { Attempt(entry: $0, number: max(1, attempts[$0.id] ?? 1)) }
    }
}
