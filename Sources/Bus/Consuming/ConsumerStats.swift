import Synchronization

/// Running counts of what one consumer did, for health endpoints and operators.
public final class ConsumerStats: Sendable {
    public struct Snapshot: Codable, Sendable, Equatable {
        /// Events the handler finished (and that were then acknowledged).
        public var handled: Int
        /// Handler failures that were scheduled for a retry.
        public var failed: Int
        /// Entries moved to a dead-letter stream.
        public var deadLettered: Int
        /// Entries taken over from other (crashed or stuck) consumers.
        public var claimed: Int
    }

    private let handledCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    private let deadLetteredCount = Atomic<Int>(0)
    private let claimedCount = Atomic<Int>(0)

    public init() {}

    func recordHandled() { handledCount.add(1, ordering: .relaxed) }
    func recordFailed() { failedCount.add(1, ordering: .relaxed) }
    func recordDeadLettered(_ count: Int) { deadLetteredCount.add(count, ordering: .relaxed) }
    func recordClaimed(_ count: Int) { claimedCount.add(count, ordering: .relaxed) }

    public var snapshot: Snapshot {
        Snapshot(
            handled: handledCount.load(ordering: .relaxed), failed: failedCount.load(ordering: .relaxed),
            deadLettered: deadLetteredCount.load(ordering: .relaxed), claimed: claimedCount.load(ordering: .relaxed))
    }
}
