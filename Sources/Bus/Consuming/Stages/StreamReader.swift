import Redis

/// Stage "read": the group's set-up, and new entries for this consumer (`XREADGROUP … >`).
struct StreamReader: Sendable {
    let client: RedisClient
    let streams: [String]
    let group: String
    let consumer: String
    let batchSize: Int

    /// Creates the group on each stream from the first entry (`0`), so that a group created late
    /// still sees the whole history; `MKSTREAM` creates missing streams. An existing group is kept.
    func ensureGroup() async throws {
        let replies = try await client.pipeline(streams.map { ["XGROUP", "CREATE", $0, group, "0", "MKSTREAM"] })
        for reply in replies {
            if case .error(let message) = reply, message.hasPrefix("BUSYGROUP") { continue }
            try reply.orThrow()
        }
    }

    /// Entries this consumer name still has pending from an earlier run (a restart under the same
    /// name), by stream.
    func ownPending() async throws -> [String: [PendingEntry]] {
        var result: [String: [PendingEntry]] = [:]
        for stream in streams {
            var start = "-"
            while true {
                let page = try await client.pending(on: stream, group: group, from: start, count: batchSize, consumer: consumer)
                result[stream, default: []] += page
                guard page.count == batchSize, let last = page.last else { break }
                start = "(" + last.id
            }
        }
        return result
    }

    /// Up to a batch of new entries; waits for them at most `wait` (not at all when zero). The
    /// `acknowledgements` (the last batch's `XACK`s) go first in the same round trip.
    func read(waitingAtMost wait: Duration, after acknowledgements: [[String]] = []) async throws -> [Attempt] {
        let waitMilliseconds = max(0, wait.milliseconds)
        let (replies, entries) = try await client.pipeline(
            acknowledgements, thenRead: command(waitingMilliseconds: waitMilliseconds), blocking: .milliseconds(waitMilliseconds))
        for reply in replies { try reply.orThrow() }
        return entries.map { Attempt(entry: $0, number: 1) }
    }

    /// Reading ahead (``ConsumerLoop``): the next batch's read, after `acknowledgements`, written
    /// now; ``receive()`` takes the answer.
    func send(after acknowledgements: [[String]]) async throws {
        try await client.sendRead(acknowledgements, thenRead: command(waitingMilliseconds: 0))
    }

    /// The answer to ``send(after:)``, not decoded yet (``attempts(in:)``).
    func receive() async throws -> RecordedReply {
        let (replies, read) = try await client.receiveRead()
        for reply in replies { try reply.orThrow() }
        return read
    }

    func attempts(in answer: RecordedReply) -> [Attempt] {
        answer.entries().map { Attempt(entry: $0, number: 1) }
    }

    private func command(waitingMilliseconds: Int64) -> [String] {
        var read = ["XREADGROUP", "GROUP", group, consumer, "COUNT", String(batchSize)]
        if waitingMilliseconds > 0 { read += ["BLOCK", String(waitingMilliseconds)] }
        return read + ["STREAMS"] + streams + Array(repeating: ">", count: streams.count)
    }
}
