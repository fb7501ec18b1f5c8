import Foundation
import Synchronization

/// A thread of our own that runs submitted jobs one after another.
///
/// hiredis calls block the calling thread for as long as the network or a `BLOCK` timeout takes.
/// Doing that on Swift's cooperative pool (two threads on a two-core machine) would stall every task
/// in the process, so each Redis connection gets one of these instead.
public final class DedicatedThread: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var stopped = false
    }

    private let condition = NSCondition()
    private let state = Mutex(State())

    public init(name: String) {
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        thread.start()
    }

    /// Queues `job`; returns false (and drops it) when the thread has been stopped.
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let accepted = state.withLock { state in
            guard !state.stopped else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { condition.signal() }
        return accepted
    }

    /// Runs `body` on the thread and returns its result to the awaiting task.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = submit { continuation.resume(with: Result { try body() }) }
            if !accepted { continuation.resume(throwing: RedisError.closed) }
        }
    }

    /// Lets queued jobs finish, then ends the thread.
    public func stop() {
        condition.lock()
        state.withLock { $0.stopped = true }
        condition.signal()
        condition.unlock()
    }

    private func runLoop() {
        while true {
            condition.lock()
            var batch: [@Sendable () -> Void] = []
            var stopped = false
            while true {
                (batch, stopped) = state.withLock { state in
                    defer { state.jobs.removeAll(keepingCapacity: true) }
                    return (state.jobs, state.stopped)
                }
                if !batch.isEmpty || stopped { break }
                condition.wait()
            }
            condition.unlock()
            for job in batch { job() }
            if stopped && batch.isEmpty { return }
        }
    }
}
