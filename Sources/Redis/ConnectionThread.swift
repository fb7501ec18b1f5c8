import Dispatch
import Foundation
import Synchronization

/// The one thread a ``RedisClient``'s connection lives on, which is also a `TaskExecutor`.
///
/// hiredis blocks its caller, so a connection's calls run here and never on Swift's cooperative
/// pool. A task that spends its life talking to one connection (a consumer, a relay) can prefer this
/// executor (``RedisClient/executor``): its code then runs here too, and its Redis calls run inline
/// instead of hopping here and back, which at low load cost two thread wake-ups each (a consumer's
/// read, a relay's publish). Everything runs one item at a time, in order: jobs of such tasks and
/// calls from other tasks alike.
///
/// Once stopped, calls are refused and jobs go to the global executor, so a task that prefers this
/// one can still finish.
final class ConnectionThread: TaskExecutor, @unchecked Sendable {
    private enum Item {
        case job(UnownedJob)
        case call(@Sendable () -> Void)
        case stop
        /// A slot already taken: what it held is released outside the lock, since releasing a call
        /// can end its client, whose `deinit` stops this thread (and so takes the lock).
        case taken
    }

    /// The queue and whether it still takes items; shared with the thread, which must not keep
    /// the executor alive.
    private final class Core: @unchecked Sendable {
        let queue = Mutex<(items: [Item], head: Int, isOpen: Bool)>(([], 0, true))
        /// Counts queued items: the thread sleeps on it only when there is nothing to do.
        let ready = DispatchSemaphore(value: 0)
        /// Set by the thread when it starts; compared with the caller's in ``isCurrent``.
        let thread = Mutex<pthread_t?>(nil)
        /// The executor the jobs run on; set before the thread starts, never changed.
        nonisolated(unsafe) var executor: UnownedTaskExecutor?

        func push(_ item: Item) -> Bool {
            let taken = queue.withLock { queue -> Bool in
                guard queue.isOpen else { return false }
                if case .stop = item { queue.isOpen = false }
                queue.items.append(item)
                return true
            }
            if taken { ready.signal() }
            return taken
        }

        func pop() -> Item {
            ready.wait()
            return queue.withLock { queue in
                let item = queue.items[queue.head]
                queue.items[queue.head] = .taken
                queue.head += 1
                if queue.head == queue.items.count || queue.head >= 1024 {
                    queue.items.removeFirst(queue.head)
                    queue.head = 0
                }
                return item
            }
        }
    }

    private let core = Core()

    init(name: String) {
        core.executor = UnownedTaskExecutor(ordinary: self)
        let core = self.core
        let thread = Thread { [core] in
            core.thread.withLock { $0 = pthread_self() }
            let executor = core.executor!
            while true {
                switch core.pop() {
                case .job(let job): job.runSynchronously(on: executor)
                case .call(let call): call()
                case .stop: return
                case .taken: continue
                }
            }
        }
        thread.name = name
        thread.start()
    }

    deinit { stop() }

    /// Whether the caller runs on this thread.
    var isCurrent: Bool {
        core.thread.withLock { thread in thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    /// Runs `body` here after what is queued; throws `CancellationError` once stopped.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let queued = core.push(.call { continuation.resume(with: Result { try body() }) })
            if !queued { continuation.resume(throwing: CancellationError()) }
        }
    }

    /// Runs `body` here after what is queued, without waiting for it; false once stopped.
    @discardableResult
    func submit(_ body: @escaping @Sendable () -> Void) -> Bool {
        core.push(.call(body))
    }

    /// Ends the thread after what is queued. Idempotent.
    func stop() {
        _ = core.push(.stop)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if !core.push(.job(job)) { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }
}
