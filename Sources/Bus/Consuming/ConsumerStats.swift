import Metrics
import Synchronization

/// Running counts of what one consumer did, for health endpoints and operators. Each count is also
/// a swift-metrics counter, `bus_consumer_events_total{group, outcome}`, which goes wherever the
/// process bootstrapped its metrics (nowhere, by default).
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
    private let handledCounter, failedCounter, deadLetteredCounter, claimedCounter: Counter

    /// - Parameter group: the consumer group, as the metrics' `group` label.
    public init(group: String = "") {
        func counter(_ outcome: String) -> Counter {
            Counter(label: "bus_consumer_events_total", dimensions: [("group", group), ("outcome", outcome)])
        }
        handledCounter = counter("handled")
        failedCounter = counter("failed")
        deadLetteredCounter = counter("dead_lettered")
        claimedCounter = counter("claimed")
    }

    func recordHandled() {
        handledCount.add(1, ordering: .relaxed)
        handledCounter.increment()
    }

    func recordFailed() {
        failedCount.add(1, ordering: .relaxed)
        failedCounter.increment()
    }

    func recordDeadLettered(_ count: Int) {
        deadLetteredCount.add(count, ordering: .relaxed)
        deadLetteredCounter.increment(by: count)
    }

    func recordClaimed(_ count: Int) {
        claimedCount.add(count, ordering: .relaxed)
        claimedCounter.increment(by: count)
    }

    public var snapshot: Snapshot {
        Snapshot(
            handled: handledCount.load(ordering: .relaxed), failed: failedCount.load(ordering: .relaxed),
            deadLettered: deadLetteredCount.load(ordering: .relaxed), claimed: claimedCount.load(ordering: .relaxed))
    }
}
