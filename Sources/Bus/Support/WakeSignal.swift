import Synchronization

/// Wakes a waiting loop at once when there is new work, instead of letting it poll.
///
/// A ``wake()`` with nobody waiting is remembered, so a wake between "found nothing" and
/// "start waiting" is never lost.
public final class WakeSignal: Sendable {
    public enum WaitResult: Sendable, Equatable {
        case woken
        case timedOut
    }

    private struct State {
        /// A wake that came while nobody waited.
        var wakePending = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func wake() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.waiters.isEmpty else {
                state.wakePending = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// How many tasks are waiting now; for tests.
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Returns on a wake, after `timeout`, or when the task is cancelled, whichever comes first;
    /// says which of the first two it was. The timer is a child task: nothing outlives the call.
    @discardableResult
    public func wait(timeout: Duration) async -> WaitResult {
        await withTaskGroup(of: WaitResult.self) { group in
            group.addTask {
                await self.wait()
                return .woken
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return .timedOut
            }
            let first = await group.next() ?? .timedOut
            group.cancelAll()
            return first
        }
    }

    /// Returns on a wake or when the task is cancelled.
    public func wait() async {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    // Cancellation is flagged before its handler runs, so a cancel that came
                    // before this registration is seen here, under the same lock.
                    if Task.isCancelled { return true }
                    if state.wakePending {
                        state.wakePending = false
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
