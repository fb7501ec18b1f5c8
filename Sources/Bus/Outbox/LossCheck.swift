import Redis

/// How the relay tells that Redis lost entries it had acknowledged (restarted without its data, or
/// with an AOF missing its tail, or a replica promoted before it had them), without `INFO`: per stream
/// it remembers the greatest entry id it got and a lower bound of the stream's `entries-added`; a
/// stream that is gone, whose `last-generated-id` or `entries-added` (`XINFO STREAM`, Redis 7) is
/// behind those, or that lacks the entry of that id, lost entries.
struct LossCheck {
    struct Mark: Equatable {
        var lastID: StreamID
        /// At least this many entries were ever added to the stream; nil until first observed.
        var entriesAdded: Int?
    }

    var marks: [String: Mark] = [:]
    /// The connection the last check ran on: the relay publishes only on that one, since a new
    /// connection may mean a Redis that restarted.
    var verifiedSerial: Int?
    var nextCheck = ContinuousClock.now

    func isDue(now: ContinuousClock.Instant) -> Bool { verifiedSerial == nil || now >= nextCheck }

    mutating func recordPublished(_ ids: [(stream: String, id: StreamID)]) {
        for (stream, id) in ids {
            var mark = marks[stream] ?? Mark(lastID: id, entriesAdded: nil)
            mark.lastID = max(mark.lastID, id)
            mark.entriesAdded = mark.entriesAdded.map { $0 + 1 }
            marks[stream] = mark
        }
    }

    /// Whether a stream in this state (nil: gone) lacks entries that were published to it;
    /// `lastStillThere`: whether the entry with the mark's id is in the stream.
    ///
    /// The counters alone miss a failover whose promoted replica lacked the newest entries when some
    /// other writer has added to the stream since: its new, later ids and its additions hide the gap.
    /// So the last entry published is also looked up; it is missing only if lost, unless the
    /// stream was trimmed past it.
    static func lostEntries(_ info: StreamInfo?, mark: Mark, lastStillThere: Bool) -> Bool {
        guard let info else { return true }
        if info.lastGeneratedID < mark.lastID { return true }
        if let added = mark.entriesAdded, info.entriesAdded < added { return true }
        if !lastStillThere, let first = info.firstEntryID, first <= mark.lastID { return true }
        return false
    }

    /// What Redis has of each marked stream, in one round trip on one connection: its `XINFO
    /// STREAM` (nil: no such stream) and whether the mark's last entry is there; and that connection's serial.
    static func read(_ marks: [String: Mark], on client: RedisClient) async throws -> (
        serial: Int, states: [(stream: String, info: StreamInfo?, lastStillThere: Bool)]
    ) {
        let marked = marks.map { (stream: $0.key, last: $0.value.lastID.description) }
        let (serial, replies) = try await client.withConnection { connection in
            (
                connection.serial,
                try connection.pipeline(marked.flatMap { [["XINFO", "STREAM", $0.stream], ["XRANGE", $0.stream, $0.last, $0.last]] })
            )
        }
        var states: [(stream: String, info: StreamInfo?, lastStillThere: Bool)] = []
        for (index, (stream, _)) in marked.enumerated() {
            let reply = replies[2 * index]
            let info: StreamInfo?
            if case .error(let message) = reply, message.contains("no such key") {
                info = nil
            } else {
                guard let parsed = StreamInfo(try reply.orThrow()) else { throw RedisError.unexpectedReply("XINFO STREAM gave \(reply)") }
                info = parsed
            }
            states.append((stream, info, !(replies[2 * index + 1].array ?? []).isEmpty))
        }
        return (serial, states)
    }

    /// Which of `rows` (sorted by entry id) the stream lacks. Redis keeps a stream's history as a
    /// prefix (it restores what it had at some moment) minus the oldest entries trimmed on purpose,
    /// so among the rows from the first entry on, the ones still there come first: a binary search
    /// with `exists` finds the first one missing.
    static func missing(
        _ rows: [(sequence: Int64, id: StreamID)], in info: StreamInfo?, exists: (StreamID) async throws -> Bool
    ) async rethrows -> [Int64] {
        guard let info, info.length > 0, let first = info.firstEntryID else { return rows.map(\.sequence) }
        let candidates = rows.filter { $0.id >= first }
        var low = 0
        var high = candidates.count  // candidates[..<low] exist; candidates[high...] are missing
        while low < high {
            let middle = (low + high) / 2
            if try await exists(candidates[middle].id) { low = middle + 1 } else { high = middle }
        }
        return candidates[low...].map(\.sequence)
    }
}
