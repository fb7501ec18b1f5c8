import NIOCore
import NIOPosix
import Synchronization

/// Load shedding for one pool: at most `limit` requests in flight. One over it waits for a slot at
/// most `maximumWait` (a short burst is smoothed out), then is turned away at once with 503 rather
/// than queued: the requests let in keep their latency, and the client is told to come back.
public final class ConcurrencyLimiter: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var inFlight = 0
        var waiters: [Waiter] = []
        var nextId: UInt64 = 0
    }

    public let limit: Int
    public let maximumWait: Duration
    /// Waiters beyond this many are turned away without waiting.
    private let maximumWaiters: Int
    private let state = Mutex(State())

    public init(limit: Int, maximumWait: Duration) {
        self.limit = max(1, limit)
        self.maximumWait = maximumWait
        maximumWaiters = max(1, limit)
    }

    public var inFlight: Int { state.withLock { $0.inFlight } }
    /// Requests waiting for a slot now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes a slot; false when none came free in time. A true must be paired with ``release()``.
    public func acquire() async -> Bool {
        let id: UInt64? = state.withLock { state in
            if state.inFlight < limit {
                state.inFlight += 1
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
            MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(maximumWait)) {
                self.expire(id)
            }
        }
    }

    public func release() {
        let waiter: Waiter? = state.withLock { state in
            if state.waiters.isEmpty {
                state.inFlight -= 1
                return nil
            }
            return state.waiters.removeFirst()  // the slot passes straight to the oldest waiter
        }
        waiter?.continuation.resume(returning: true)
    }

    /// Queues the waiter (true), or answers it at once (false).
    private func enqueue(_ id: UInt64, _ continuation: CheckedContinuation<Bool, Never>) -> Bool {
        let answer: Bool? = state.withLock { state in
            if state.inFlight < limit {
                state.inFlight += 1
                return true
            }
            guard state.waiters.count < maximumWaiters else { return false }
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
