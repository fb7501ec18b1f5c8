import Redis

/// Stage "retry": a failed attempt waits an exponential backoff, then the entry is claimed again
/// with `XCLAIM`, which counts the next attempt. An entry deleted or acknowledged meanwhile is dropped.
///
/// The schedule itself is plain state (testable without Redis); ``claimDue(now:)`` is its one
/// Redis call.
struct RetrySchedule {
    struct Retry: Equatable {
        var key: EntryKey
        /// The attempts made so far.
        var attempts: Int
        var due: ContinuousClock.Instant
    }

    let client: RedisClient
    let group: String
    let consumer: String
    let backoff: Backoff
    /// Retries wait at most this long, so that other consumers do not take a live consumer's
    /// entries for abandoned (half the claim threshold).
    let longestWait: Duration
    private(set) var waiting: [EntryKey: Retry] = [:]

    init(client: RedisClient, group: String, consumer: String, backoff: Backoff, longestWait: Duration) {
        self.client = client
        self.group = group
        self.consumer = consumer
        self.backoff = backoff
        self.longestWait = longestWait
    }

    /// Schedules the entry of a failed attempt; returns how long it waits.
    @discardableResult
    mutating func schedule(_ attempt: Attempt, now: ContinuousClock.Instant) -> Duration {
        let delay = min(backoff.delay(attempt: attempt.number), longestWait)
        waiting[attempt.entry.key] = Retry(key: attempt.entry.key, attempts: attempt.number, due: now + delay)
        return delay
    }

    /// Schedules entries this consumer already held (after a restart under the same name) at once.
    mutating func scheduleNow(_ pending: [PendingEntry], on stream: String, now: ContinuousClock.Instant) {
        for entry in pending {
            let key = EntryKey(stream: stream, id: entry.id)
            waiting[key] = Retry(key: key, attempts: entry.attempts, due: now)
        }
    }

    mutating func forget(_ key: EntryKey) { waiting.removeValue(forKey: key) }

    mutating func forgetAll() { waiting.removeAll() }

    /// When the next retry is due, if any is waiting.
    var nextDue: ContinuousClock.Instant? { waiting.values.map(\.due).min() }

    /// Removes and returns the retries due at `now`, grouped by stream.
    mutating func takeDue(now: ContinuousClock.Instant) -> [String: [Retry]] {
        let due = waiting.values.filter { $0.due <= now }
        for retry in due { waiting.removeValue(forKey: retry.key) }
        return Dictionary(grouping: due, by: \.key.stream)
    }

    /// Claims the entries whose retry is due, one pipelined `XCLAIM` per stream.
    mutating func claimDue(now: ContinuousClock.Instant) async throws -> [Attempt] {
        let due = takeDue(now: now)
        guard !due.isEmpty else { return [] }
        let streams = Array(due.keys)
        let commands = streams.map { stream in
            ["XCLAIM", stream, group, consumer, "0"] + (due[stream] ?? []).map(\.key.id)
        }
        let replies = try await client.pipeline(commands)
        var attempts: [Attempt] = []
        for (stream, reply) in zip(streams, replies) {
            let made = Dictionary(uniqueKeysWithValues: (due[stream] ?? []).map { ($0.key.id, $0.attempts) })
            for entry in StreamEntry.parseList(stream: stream, try reply.orThrow()) {
                attempts.append(Attempt(entry: entry, number: (made[entry.id] ?? 0) + 1))
            }
        }
        return attempts
    }
}
