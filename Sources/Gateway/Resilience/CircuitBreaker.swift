import Synchronization

/// A circuit breaker per pool, with Resilience4j's semantics: a count-based sliding window of the
/// last calls; once it holds `minimumCalls`, a failure rate or a slow-call rate at or above its
/// threshold opens the breaker. Open, it turns calls away at once for `waitInOpen`; then half-open,
/// it lets `halfOpenCalls` trial calls through, whose outcome closes or reopens it.
///
/// The numbers are smaller than Resilience4j's defaults (window 100, wait 60 s), which suit a big
/// fleet: here a handful of instances serve a few hundred requests a second, a dead service shows
/// in 10 calls, and it is back within seconds of a restart.
public final class CircuitBreaker: Sendable {
    public struct Settings: Sendable {
        public var windowSize = 20
        public var minimumCalls = 10
        public var failureRateThreshold = 0.5
        /// A call slower than this counts as slow, whatever its status.
        public var slowCallDuration: Duration = .seconds(3)
        public var slowCallRateThreshold = 0.8
        public var waitInOpen: Duration = .seconds(2)
        public var halfOpenCalls = 3

        public init() {}
    }

    public enum State: String, Sendable {
        case closed, open
        case halfOpen = "half_open"

        /// For the `gateway_breaker_state` gauge.
        public var gaugeValue: Int {
            switch self {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        }
    }

    /// Whether a call may go, with the ticket to report its outcome under.
    public enum Permission: Sendable, Equatable {
        case allowed(Ticket)
        case rejected(retryAfter: Duration)
    }

    /// Outcomes of calls let through in an earlier state are ignored: a slow call from before the
    /// breaker opened must not decide the half-open trial.
    public struct Ticket: Sendable, Equatable {
        let generation: Int
    }

    private struct Outcome {
        var failed: Bool
        var slow: Bool
    }

    private struct Inner {
        var state = State.closed
        var generation = 0
        var window: [Outcome] = []
        var next = 0
        var openUntil = ContinuousClock.Instant.now
        var trialsLeft = 0
        var trials: [Outcome] = []
    }

    public let settings: Settings
    private let inner = Mutex(Inner())
    private let onChange: @Sendable (State) -> Void

    public init(settings: Settings, onChange: @escaping @Sendable (State) -> Void = { _ in }) {
        self.settings = settings
        self.onChange = onChange
    }

    public var state: State { inner.withLock { $0.state } }

    public func permit(now: ContinuousClock.Instant = .now) -> Permission {
        let (permission, changed) = inner.withLock { inner -> (Permission, State?) in
            switch inner.state {
            case .closed:
                return (.allowed(Ticket(generation: inner.generation)), nil)
            case .open:
                guard now >= inner.openUntil else { return (.rejected(retryAfter: inner.openUntil - now), nil) }
                transition(&inner, to: .halfOpen, now: now)
                inner.trialsLeft -= 1
                return (.allowed(Ticket(generation: inner.generation)), .halfOpen)
            case .halfOpen:
                guard inner.trialsLeft > 0 else { return (.rejected(retryAfter: settings.waitInOpen), nil) }
                inner.trialsLeft -= 1
                return (.allowed(Ticket(generation: inner.generation)), nil)
            }
        }
        if let changed { onChange(changed) }
        return permission
    }

    /// Reports how a permitted call went.
    public func record(_ ticket: Ticket, failed: Bool, duration: Duration, now: ContinuousClock.Instant = .now) {
        let outcome = Outcome(failed: failed, slow: duration >= settings.slowCallDuration)
        let changed = inner.withLock { inner -> State? in
            guard ticket.generation == inner.generation else { return nil }
            switch inner.state {
            case .closed:
                if inner.window.count < settings.windowSize {
                    inner.window.append(outcome)
                } else {
                    inner.window[inner.next] = outcome
                }
                inner.next = (inner.next + 1) % settings.windowSize
                guard inner.window.count >= settings.minimumCalls, exceeds(inner.window) else { return nil }
                transition(&inner, to: .open, now: now)
                return .open
            case .halfOpen:
                inner.trials.append(outcome)
                guard inner.trials.count >= settings.halfOpenCalls || outcome.failed else { return nil }
                let next: State = exceeds(inner.trials) ? .open : (inner.trials.count >= settings.halfOpenCalls ? .closed : .halfOpen)
                guard next != .halfOpen else { return nil }
                transition(&inner, to: next, now: now)
                return next
            case .open:
                return nil
            }
        }
        if let changed { onChange(changed) }
    }

    private func exceeds(_ outcomes: [Outcome]) -> Bool {
        let count = Double(outcomes.count)
        let failures = Double(outcomes.count { $0.failed })
        let slow = Double(outcomes.count { $0.slow })
        return failures / count >= settings.failureRateThreshold || slow / count >= settings.slowCallRateThreshold
    }

    private func transition(_ inner: inout Inner, to state: State, now: ContinuousClock.Instant) {
        inner.state = state
        inner.generation += 1
        inner.window.removeAll(keepingCapacity: true)
        inner.next = 0
        inner.trials.removeAll()
        switch state {
        case .open: inner.openUntil = now + settings.waitInOpen
        case .halfOpen: inner.trialsLeft = settings.halfOpenCalls
        case .closed: break
        }
    }
}
