import Redis

/// Stage "pause": entries whose handling failed for the infrastructure's sake (a locked database,
/// Redis away) are held here, with their data, and handled again after a growing backoff. They stay
/// pending at this consumer and count no attempt; every `touchInterval` an `XCLAIM … JUSTID` to
/// itself resets their idle time (without counting a delivery), so no other consumer takes a live
/// consumer's entries for abandoned ones.
struct PauseState {
    let client: RedisClient
    let group: String
    let consumer: String
    let backoff: Backoff
    let touchInterval: Duration
    private(set) var held: [Attempt] = []
    private var round = 0
    private var pausedAt: ContinuousClock.Instant?
    private var resumeAt = ContinuousClock.now
    private var nextTouch = ContinuousClock.now

    init(client: RedisClient, group: String, consumer: String, backoff: Backoff, touchInterval: Duration) {
        self.client = client
        self.group = group
        self.consumer = consumer
        self.backoff = backoff
        self.touchInterval = touchInterval
    }

    /// From the first infrastructure failure until a round of the held entries goes through.
    var isPaused: Bool { pausedAt != nil }
    /// Whether the last ``hold(_:now:)`` started the pause.
    var isFirstRound: Bool { round == 1 }
    var pausedFor: Duration { pausedAt.map { .now - $0 } ?? .zero }

    /// Holds `attempts` for the next round (none: the pause is over).
    mutating func hold(_ attempts: [Attempt], now: ContinuousClock.Instant) {
        held = attempts
        guard !attempts.isEmpty else {
            round = 0
            pausedAt = nil
            return
        }
        round += 1
        if pausedAt == nil { pausedAt = now }
        resumeAt = now + backoff.delay(attempt: round)
        nextTouch = now + touchInterval
    }

    /// Adds `attempts` to those held for the round under way, without starting a new one: entries
    /// read before the pause began and not yet handled.
    mutating func holdAlso(_ attempts: [Attempt]) {
        held += attempts
    }

    /// The held attempts once the backoff is over (taken out: hand the next round's to ``hold(_:now:)``);
    /// until then keeps them ours and waits a little, returning nil.
    mutating func heldWhenDue(now: ContinuousClock.Instant) async throws -> [Attempt]? {
        if now >= resumeAt {
            try await touch()  // a fresh idle time for the round, which may block a while on the failing part
            let due = held
            held = []
            return due
        }
        if now >= nextTouch {
            try await touch()
            nextTouch = now + touchInterval
        }
        try await Task.sleep(for: min(resumeAt, nextTouch) - now)
        return nil
    }

    /// Resets the held entries' idle time: `XCLAIM … 0 … JUSTID` to this consumer, which does not
    /// count a delivery.
    private func touch() async throws {
        let byStream = Dictionary(grouping: held, by: \.entry.stream)
        let commands = byStream.map { stream, attempts in
            ["XCLAIM", stream, group, consumer, "0"] + attempts.map(\.entry.id) + ["JUSTID"]
        }
        for reply in try await client.pipeline(commands) { try reply.orThrow() }
    }

    mutating func forgetAll() {
        held = []
        round = 0
        pausedAt = nil
    }
}
