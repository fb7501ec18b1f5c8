import NIOCore
import NIOPosix
import Synchronization

/// Load shedding for one pool: at most ``limit`` requests in flight, a limit learnt from the
/// latency of the answers (``AdaptiveLimit``) between a floor and the ceiling (`--max-concurrent`).
/// One over it waits for a slot at most `maximumWait`, and only while fewer than √limit wait (a
/// short burst is smoothed out; a queue that would add its own latency is not built); the rest are
/// turned away at once with 503 rather than queued: the requests let in keep their latency, and the
/// client is told to come back.
public final class ConcurrencyLimiter: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var inFlight = 0
        var waiters: [Waiter] = []
        var nextId: UInt64 = 0
        var adaptive: AdaptiveLimit
        var window: Window

        var maximumWaiters: Int { max(1, Int(Double(adaptive.allowed).squareRoot().rounded(.up))) }
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
        state = Mutex(State(adaptive: limit, window: Window(start: now)))
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
    public func acquire() async -> Bool {
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
            guard enqueue(id, continuation) else { return }
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
            if !state.waiters.isEmpty && state.inFlight <= state.adaptive.allowed { return state.waiters.removeFirst() }
            state.inFlight -= 1
            return nil
        }
        waiter?.continuation.resume(returning: true)
    }

    /// Queues the waiter (true), or answers it at once (false).
    private func enqueue(_ id: UInt64, _ continuation: CheckedContinuation<Bool, Never>) -> Bool {
        let answer: Bool? = state.withLock { state in
            if state.inFlight < state.adaptive.allowed {
                state.inFlight += 1
                return true
            }
            guard state.waiters.count < state.maximumWaiters else { return false }
            state.waiters.append(Waiter(id: id, continuation: continuation))
            return nil
        }
        guard let answer else { return true }
        continuation.resume(returning: answer)
        return false
    }

    /// The waiter's time is up: turn it away if it is still waiting.
    private func expire(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(returning: false)
    }
}
