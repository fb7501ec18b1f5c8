import NIOCore
import NIOPosix
import Synchronization

/// Load shedding for one pool: at most ``limit`` requests in flight, a limit learnt from the
/// latency of the answers (``AdaptiveLimit``) between a floor and the ceiling (`--max-concurrent`).
/// One over it waits for a slot at most `maximumWait`: in a burst while fewer than the ceiling
/// wait, once the queue stands (``WaitQueue``: non-empty for 100 ms, the pool is overloaded) only
/// while fewer than √limit do (a queue that would add its own latency is not built). The rest are
/// turned away at once with 503 rather than queued: the requests let in keep their latency, and
/// the client is told to come back.
///
/// Why a burst may wait: with √limit waiters whatever the queue's age, a stall of tens of
/// milliseconds at 600 orders/s (a fifth of what Rental can take here) turned up to 60 orders away
/// each time, 0.3–1 % of them in a 20 s run (`bookdelivery load`, measured). Rejected: a long queue always (under overload
/// every request let in would wait `maximumWait` first: the latency the limit is there to keep).
public final class ConcurrencyLimiter: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var inFlight = 0
        var waiters: WaitQueue<Waiter>
        var nextId: UInt64 = 0
        var adaptive: AdaptiveLimit
        var window: Window

        /// How many may wait once the queue stands: √limit.
        var standingWaiters: Int { max(1, Int(Double(adaptive.allowed).squareRoot().rounded(.up))) }
    }

    public let ceiling: Int
    public let maximumWait: Duration
    private let state: Mutex<State>

    /// `adaptive: false` keeps the limit at `ceiling` (the tests of the shedding itself).
    public init(ceiling: Int, maximumWait: Duration, adaptive: Bool = true, now: ContinuousClock.Instant = .now) {
        var settings = AdaptiveLimit.Settings(ceiling: ceiling)
        if !adaptive { settings.floor = settings.ceiling }
        let limit = AdaptiveLimit(settings: settings, now: now)
        self.ceiling = limit.settings.ceiling
        self.maximumWait = maximumWait
        state = Mutex(State(waiters: WaitQueue(now: now), adaptive: limit, window: Window(start: now)))
    }

    /// The requests allowed in flight now.
    public var limit: Int { state.withLock { $0.adaptive.allowed } }
    public var inFlight: Int { state.withLock { $0.inFlight } }
    /// Requests waiting for a slot now.
    public var waiting: Int { state.withLock { $0.waiters.count } }
    /// Seconds: the no-load latency the limit is learnt against (the last probe's mean); nil
    /// before the first probe.
    public var noLoadLatency: Double? { state.withLock { $0.adaptive.noLoadLatency } }
    /// The probes of the no-load latency so far: taken, and refused as implausible.
    public var probes: (taken: Int, refused: Int) { state.withLock { ($0.adaptive.probesTaken, $0.adaptive.probesRefused) } }

    /// Takes a slot; false when none came free in time. A true must be paired with ``release(latency:)``.
    /// (`now` is for the tests: when the request came, for the queue's age.)
    public func acquire(now: ContinuousClock.Instant = .now) async -> Bool {
        let id: UInt64? = state.withLock { state in
            if state.inFlight < state.adaptive.allowed {
                state.inFlight += 1
                state.window.sawInFlight(state.inFlight)
                return nil
            }
            state.nextId += 1
            return state.nextId
        }
        guard let id else { return true }
        guard maximumWait > .zero else { return false }
        return await withCheckedContinuation { continuation in
            guard enqueue(id, continuation, now: now) else { return }
            // A timer, not a task: it fires after the waiter is queued, whatever the scheduling.
            (MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.any()).scheduleTask(
                in: TimeAmount(maximumWait)
            ) {
                self.expire(id)
            }
        }
    }

    /// Gives the slot back; `latency`, how long the instance took to answer, teaches the limit
    /// (nil when the request never reached one, or broke: no answer, no latency to learn from).
    public func release(latency: Duration? = nil, now: ContinuousClock.Instant = .now) {
        let waiter: Waiter? = state.withLock { state in
            // A probe learns only from requests let in under its limit.
            if let latency, state.adaptive.probeStarted.map({ now - latency >= $0 }) ?? true,
                let window = state.window.add(latency, at: now, inFlight: state.inFlight),
                state.adaptive.update(meanLatency: window.mean, peakInFlight: window.peak, now: now)
            {
                state.window = Window(start: now)
            }
            // The slot passes straight to the oldest waiter, unless the limit just came down.
            if !state.waiters.isEmpty && state.inFlight <= state.adaptive.allowed { return state.waiters.popFirst(now: now) }
            state.inFlight -= 1
            return nil
        }
        waiter?.continuation.resume(returning: true)
    }

    /// Queues the waiter (true), or answers it at once (false).
    private func enqueue(_ id: UInt64, _ continuation: CheckedContinuation<Bool, Never>, now: ContinuousClock.Instant) -> Bool {
        let answer: Bool? = state.withLock { state in
            if state.inFlight < state.adaptive.allowed {
                state.inFlight += 1
                return true
            }
            let waiter = Waiter(id: id, continuation: continuation)
            return state.waiters.append(waiter, burst: ceiling, standing: state.standingWaiters, now: now) ? nil : false
        }
        guard let answer else { return true }
        continuation.resume(returning: answer)
        return false
    }

    /// The waiter's time is up: turn it away if it is still waiting.
    private func expire(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            state.waiters.remove(now: .now) { $0.id == id }
        }
        waiter?.continuation.resume(returning: false)
    }
}
