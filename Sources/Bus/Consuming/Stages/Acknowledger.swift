import Redis

/// Stage "acknowledge": collects the entries of a batch that are done with and acknowledges them
/// (`XACK`, one per stream, in one pipeline) as soon as the batch is over: in the same round trip
/// as the next read when one follows (``StreamReader/read(waitingAtMost:after:)``), else alone.
struct Acknowledger {
    let client: RedisClient
    let group: String
    private(set) var waiting: [String: [String]] = [:]

    init(client: RedisClient, group: String) {
        self.client = client
        self.group = group
    }

    mutating func add(_ entry: StreamEntry) {
        waiting[entry.stream, default: []].append(entry.id)
    }

    /// The `XACK` commands for what is waiting, one per stream.
    var commands: [[String]] { commands(for: waiting) }

    /// The `XACK` commands for `ids` by stream.
    func commands(for ids: [String: [String]]) -> [[String]] {
        ids.keys.sorted().map { stream in ["XACK", stream, group] + (ids[stream] ?? []) }
    }

    /// Puts back ids taken from ``waiting`` whose `XACK` may not have reached Redis.
    mutating func restore(_ ids: [String: [String]]) {
        waiting.merge(ids) { $1 + $0 }
    }

    /// Acknowledges everything waiting. On a connection problem the ids are kept for the next flush.
    mutating func flush() async throws {
        guard !waiting.isEmpty else { return }
        let replies = try await client.pipeline(commands)
        waiting.removeAll()
        for reply in replies { try reply.orThrow() }
    }

    /// Drops what is waiting: after the group was recreated, those ids mean nothing; or after
    /// `commands` went out with a read.
    mutating func forgetAll() { waiting.removeAll() }
}
