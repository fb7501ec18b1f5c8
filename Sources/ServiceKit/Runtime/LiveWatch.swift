import Bus
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// What `/live` answers from: whether the process's loops still go round. A wedged process (an
/// event loop blocked, a consumer or relay loop stuck) answers 503, and whoever watches it
/// (`up`'s supervisor, Kubernetes' liveness probe) restarts it; one that is only slow, or whose
/// Redis is away, keeps going round and stays live.
///
/// The loops it watches: every event loop of the process's group (a task on each, every second,
/// ``EventLoopBeat``), and each consumer's and relay's ``LoopProgress``. `/live` itself runs on an
/// event loop: if the one it lands on is the blocked one, it does not answer at all, which a
/// prober counts as a failure too.
public final class LiveWatch: Sendable {
    public let timeout: Duration
    private let loops = Mutex<[(name: String, progress: LoopProgress)]>([])

    public init(timeout: Duration) {
        self.timeout = timeout
    }

    /// Watches `progress`, named `name` in `/live`'s answer.
    public func watch(_ name: String, _ progress: LoopProgress) {
        loops.withLock { $0.append((name, progress)) }
    }

    /// `GET /live`: 200 while every watched loop goes round; 503 naming the stuck ones otherwise.
    /// Redis and the store are not asked: a process that waits for them is not wedged.
    public func answer(service: String) throws -> ProbeAnswer {
        let stalled = stalled()
        guard stalled.isEmpty else {
            let names = stalled.map { "\($0.name) (\(Int($0.idle / .seconds(1))) s)" }.joined(separator: ", ")
            throw APIError(.serviceUnavailable, "not live: no progress in \(names)")
        }
        return ProbeAnswer(service: service, status: "live")
    }

    /// The loops that have not gone round within the timeout, with how long they have been stuck.
    public func stalled(now: ContinuousClock.Instant = .now) -> [(name: String, idle: Duration)] {
        loops.withLock { loops in loops.map { ($0.name, $0.progress.idle(now: now)) } }.filter { $0.idle > timeout }
    }
}

/// A task on each event loop of `group`, every second, that tells ``LiveWatch`` the loop turns.
public struct EventLoopBeat: Service, CustomStringConvertible {
    let group: any EventLoopGroup
    let watch: LiveWatch
    let interval: Duration

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, watch: LiveWatch, interval: Duration = .seconds(1)) {
        self.group = group
        self.watch = watch
        self.interval = interval
    }

    public func run() async throws {
        var tasks: [RepeatedTask] = []
        for (index, loop) in group.makeIterator().enumerated() {
            let progress = LoopProgress()
            watch.watch("event loop \(index)", progress)
            tasks.append(loop.scheduleRepeatedTask(initialDelay: .zero, delay: TimeAmount(interval)) { _ in progress.turned() })
        }
        try? await gracefulShutdown()
        for task in tasks { task.cancel() }
    }

    public var description: String { "EventLoopBeat" }
}
