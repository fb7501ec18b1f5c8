import Synchronization

/// When a long-running loop last went round: a consumer's or a relay's. `/live` reads it
/// (``ServiceKit/LiveWatch``): a loop that has not turned for longer than the live timeout is wedged.
/// A loop that only waits (for Redis, for entries, for its backoff) turns at least once a second or
/// two; a handler stuck forever does not.
public final class LoopProgress: Sendable {
    private let last = Mutex(ContinuousClock.now)

    public init() {}

    /// The loop went round.
    public func turned(now: ContinuousClock.Instant = .now) {
        last.withLock { $0 = now }
    }

    /// How long since it last went round.
    public func idle(now: ContinuousClock.Instant = .now) -> Duration {
        now - last.withLock { $0 }
    }
}
