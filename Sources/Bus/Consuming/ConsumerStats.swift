import Foundation
import Metrics
import Primitives
import Synchronization

/// What one consumer did and whether it is paused, for `/health` and operators. Each count is also a
/// swift-metrics counter, `bus_consumer_events_total{group, outcome}`, and the pause a gauge,
/// `bus_consumer_paused{group}`; they go wherever the process bootstrapped its metrics. The age of
/// each event when its handler has finished (now − `occurredAt`, the time from the change that caused
/// it to its effect here) goes to the histogram `bus_event_age_seconds{group, type}`.
public final class ConsumerStats: Sendable {
    public struct Snapshot: Codable, Sendable, Equatable {
        /// Events the handler finished (and that were then acknowledged).
        public var handled: Int
        /// Failures of the events themselves, scheduled for a retry.
        public var failed: Int
        /// Entries moved to a dead-letter stream.
        public var deadLettered: Int
        /// Entries taken over from other (crashed or stuck) consumers.
        public var claimed: Int
        /// Failures of the infrastructure (database locked, Redis away): the consumer paused, kept its
        /// entries, and counted no attempt.
        public var infrastructureFailures: Int
        /// Since when the consumer is paused, and why; nil while it runs.
        public var pausedSince: String?
        public var pauseReason: String?
        /// Whether the group exists on every stream (created or found at start).
        public var groupReady = false

    }

    private let state = Mutex(
        Snapshot(handled: 0, failed: 0, deadLettered: 0, claimed: 0, infrastructureFailures: 0, pausedSince: nil, pauseReason: nil))
    private let handledCounter, failedCounter, deadLetteredCounter, claimedCounter, infrastructureCounter: Counter
    private let pausedGauge: Gauge
    public let group: String
    /// One histogram per event type, made on first use.
    private let eventAges = Mutex<[String: Metrics.Timer]>([:])

    /// - Parameter group: the consumer group, as the metrics' `group` label.
    public init(group: String = "") {
        func counter(_ outcome: String) -> Counter {
            Counter(label: "bus_consumer_events_total", dimensions: [("group", group), ("outcome", outcome)])
        }
        handledCounter = counter("handled")
        failedCounter = counter("failed")
        deadLetteredCounter = counter("dead_lettered")
        claimedCounter = counter("claimed")
        infrastructureCounter = counter("infrastructure_failure")
        pausedGauge = Gauge(label: "bus_consumer_paused", dimensions: [("group", group)])
        pausedGauge.record(0)
        self.group = group
    }

    /// The histogram of the events' ages when handled.
    public static let eventAgeMetric = "bus_event_age_seconds"

    /// Events handled, each with its envelope's `type` and `occurredAt` (ms precision, so an age is
    /// at most 1 ms too long, never too short). Recorded a batch at a time: one clock reading and one
    /// lock for the whole batch.
    func recordHandled(_ events: [(type: String?, occurredAt: String?)]) {
        guard !events.isEmpty else { return }
        state.withLock { $0.handled += events.count }
        handledCounter.increment(by: events.count)
        let now = Date().timeIntervalSince1970 * 1000
        let ages = events.compactMap { event -> (type: String, nanoseconds: Int64)? in
            guard let type = event.type, let occurredAt = event.occurredAt, let then = Timestamp.milliseconds(from: occurredAt) else {
                return nil
            }
            return (type, Int64(max(0, now - Double(then)) * 1_000_000))
        }
        guard !ages.isEmpty else { return }
        let timers = eventAges.withLock { timers in
            for (type, _) in ages where timers[type] == nil {
                timers[type] = Metrics.Timer(label: Self.eventAgeMetric, dimensions: [("group", group), ("type", type)])
            }
            return timers
        }
        for (type, nanoseconds) in ages { timers[type]?.recordNanoseconds(nanoseconds) }
    }

    func recordFailed() {
        state.withLock { $0.failed += 1 }
        failedCounter.increment()
    }

    func recordDeadLettered(_ count: Int) {
        guard count > 0 else { return }
        state.withLock { $0.deadLettered += count }
        deadLetteredCounter.increment(by: count)
    }

    func recordClaimed(_ count: Int) {
        guard count > 0 else { return }
        state.withLock { $0.claimed += count }
        claimedCounter.increment(by: count)
    }

    func recordPaused(_ count: Int, reason: String) {
        state.withLock { state in
            state.infrastructureFailures += count
            if state.pausedSince == nil { state.pausedSince = Timestamp.string(from: Date()) }
            state.pauseReason = reason
        }
        infrastructureCounter.increment(by: count)
        pausedGauge.record(1)
    }

    func recordResumed() {
        state.withLock { state in
            state.pausedSince = nil
            state.pauseReason = nil
        }
        pausedGauge.record(0)
    }

    func recordGroupReady() {
        state.withLock { $0.groupReady = true }
    }

    func recordRedisAnswered() {
        lastAnswer.withLock { $0 = .now }
    }

    /// How long ago Redis last answered this consumer's read (a blocking read returns within a
    /// few seconds); nil if it never did.
    public var sinceRedisAnswered: Duration? { lastAnswer.withLock { $0.map { .now - $0 } } }
    private let lastAnswer = Mutex<ContinuousClock.Instant?>(nil)
    /// When the consumer's loop last went round, for `/live`.
    public let progress = LoopProgress()

    public var snapshot: Snapshot { state.withLock { $0 } }
}
