/// The relay's clocks apart from publishing what is handed over: when to claim from the table, when
/// to prune, and how long to sleep when there is nothing to publish. A value, so that the loop asks
/// it rather than keeping four deadlines of its own, and so that it is tested without a relay.
///
/// The loss check and the published marks keep their own due times (``LossCheck/nextCheck``,
/// ``PublishedMarks/due``): the sleep ends at the earliest of those and the next poll.
struct RelaySchedule {
    let pollInterval: Duration
    let pruneInterval: Duration
    private(set) var nextPoll: ContinuousClock.Instant
    private(set) var nextPrune: ContinuousClock.Instant

    /// Both due at once: a starting relay claims from the table and prunes first.
    init(pollInterval: Duration, pruneInterval: Duration, now: ContinuousClock.Instant) {
        self.pollInterval = pollInterval
        self.pruneInterval = pruneInterval
        nextPoll = now
        nextPrune = now
    }

    /// Whether this round claims from the table: always while the hand-off is suspended (the table
    /// then is the only source), else once every `pollInterval` (other processes' rows, a crashed
    /// relay's). A poll taken starts the next interval.
    mutating func takePoll(now: ContinuousClock.Instant, handoffActive: Bool) -> Bool {
        guard !handoffActive || now >= nextPoll else { return false }
        nextPoll = now + pollInterval
        return true
    }

    /// Whether to prune now; a prune taken starts the next interval, whether it succeeds or not
    /// (pruning is housekeeping: a failed one waits for the next).
    mutating func takePrune(now: ContinuousClock.Instant) -> Bool {
        guard now >= nextPrune else { return false }
        nextPrune = now + pruneInterval
        return true
    }

    /// Until when the loop may sleep with nothing to publish (a commit wakes it earlier): the next
    /// poll, loss check or published mark, whichever comes first.
    func sleepUntil(lossCheck: ContinuousClock.Instant, marksDue: ContinuousClock.Instant?) -> ContinuousClock.Instant {
        min(nextPoll, lossCheck, marksDue ?? nextPoll)
    }
}
