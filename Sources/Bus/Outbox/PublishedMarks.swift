import Redis

/// Rows that went out and are not yet marked published in the table, with their entry ids.
///
/// The relay marks them a batch at a time (``OutboxRelay/Configuration/markInterval``) rather than
/// after every publish: at 500 orders/s that mark was a writer transaction per order, the service's
/// own commits queued behind it. The rows stay claimed by the relay meanwhile, so no other relay takes
/// them; if this one dies first, they go out again once their lease ends, which consumers absorb.
struct PublishedMarks {
    /// (sequence, entry id), as ``OutboxTable/settle(published:failed:now:)`` takes them.
    private(set) var rows: [(Int64, StreamID)] = []
    /// When the oldest row waiting must be marked.
    private(set) var due: ContinuousClock.Instant?

    var isEmpty: Bool { rows.isEmpty }

    mutating func add(_ published: [(Int64, StreamID)], within interval: Duration) {
        guard !published.isEmpty else { return }
        if rows.isEmpty { due = .now + interval }
        rows += published
    }

    /// Whether to mark them now: the oldest has waited its interval, or a batch is waiting.
    func isDue(now: ContinuousClock.Instant, batchSize: Int) -> Bool {
        guard let due else { return false }
        return now >= due || rows.count >= batchSize
    }

    /// All the rows waiting, which are no longer waiting.
    mutating func take() -> [(Int64, StreamID)] {
        defer {
            rows.removeAll()
            due = nil
        }
        return rows
    }
}
