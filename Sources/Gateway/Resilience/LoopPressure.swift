import Foundation
import NIOCore
import ServiceLifecycle
import Synchronization

/// How busy one of the gateway's event loops is, and, with a limit, which share of the API's
/// requests it turns away at once (503 + `Retry-After`), before any of their work.
///
/// Why: the pools' limiters (``ConcurrencyLimiter``) learn from the instances' latency. When what
/// cannot keep up is the gateway itself (more requests than its loop can read, check and forward),
/// the instances answer as fast as ever and the limiters let everything in: at twice the gateway's
/// saturation its 503s took 459 ms (p50), and the orders let in waited with them (issue 29, run I).
/// A loop keeps up while its thread has moments with nothing to do. So every 10 ms it reads how
/// long its thread ran, or waited for a core, since the last time (Linux's per-thread scheduler
/// statistics, `/proc/thread-self/schedstat`): its *demand*. While the demand is over `limit` the
/// share turned away grows (from none to all in half a second at full demand); under it, it shrinks
/// (from all to none in a fifth of a second at half the limit).
///
/// `/metrics` exports the thread's time run or waiting as a total in seconds, read when it is
/// scraped (``demandSeconds``), whose rate is the demand over any window: that needs no timer, so
/// without a limit nothing runs every 10 ms (its ticks were 3 % of the gateway's CPU at 400
/// orders/s, perf).
///
/// No limit by default: measured, turning requests away on it did not pay (the README, issue 29's
/// fifth round). A loop that is busy because its clients send again the moment they get a 503 stays
/// busy with their 503s, and at 2–3× the saturation the pools' limiters already turn most away.
///
/// Alternatives rejected: a timer's lateness (it measures one turn of the loop, which NIO bounds at
/// 64 sockets, not how many wait, and depends on the build: a debug gateway at 150 requests/s
/// already had turns of up to 27 ms); the time from a request's head to its answer (it misses the
/// wait before the socket is read); the process's CPU time alone (a loop waiting for a core, on a
/// box whose other processes have them, is behind too); random draws per request (error diffusion
/// spreads the refusals evenly without them).
public final class LoopPressure: Sendable {
    public struct Settings: Sendable {
        /// The demand (share of time the loop's thread ran or waited to run) above which a share
        /// of the API's requests is turned away; nil: none ever is (the demand is only measured).
        public var limit: Double?
        /// How often it is measured.
        public var interval: Duration = .milliseconds(10)

        public init(limit: Double?) {
            self.limit = limit
        }
    }

    private struct State {
        /// Smoothed over about 40 ms.
        var demand = 0.0
        var share = 0.0
        /// The refusals owed: `share` per request; one is due from ½ (so that a share of 1 turns
        /// away the first request).
        var owed = 0.0
    }

    public let settings: Settings
    private let state = Mutex(State())
    /// The loop's thread (Linux's thread id), once ``LoopPressures`` has asked it; 0 before.
    private let thread = Atomic<Int32>(0)

    public init(settings: Settings) {
        self.settings = settings
    }

    /// The loop's demand now (0–1).
    public var demand: Double { state.withLock { $0.demand } }
    /// The share of the API's requests turned away now (0–1).
    public var share: Double { state.withLock { $0.share } }

    /// Over the last `elapsed`, the loop's thread ran or waited for a core `demand` of the time.
    public func measured(demand: Double, over elapsed: Duration) {
        let seconds = max(0, elapsed / .seconds(1))
        state.withLock { state in
            state.demand += (1 - exp(-seconds / 0.04)) * (min(1, max(0, demand)) - state.demand)
            guard let limit = settings.limit else { return }
            let change =
                state.demand > limit
                ? 2 * seconds * (state.demand - limit) / (1 - limit)
                : -10 * seconds * (limit - state.demand) / limit
            state.share = min(1, max(0, state.share + change))
            if state.share == 0 { state.owed = 0 }
        }
    }

    /// The seconds the loop's thread has run or waited for a core since it started; nil before
    /// ``LoopPressures`` runs, or without the statistics (not Linux).
    public var demandSeconds: Double? {
        let thread = thread.load(ordering: .relaxed)
        guard thread > 0 else { return nil }
        let file = open("/proc/self/task/\(thread)/schedstat", O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        return Schedstat.read(file).map { Double($0.busy) / 1e9 }
    }

    /// Whether to turn the next API request away: `share` of them, spread evenly.
    public func turnsAway() -> Bool {
        // Without a limit (the default), no lock on each request.
        guard settings.limit != nil else { return false }
        return state.withLock { state in
            guard state.share > 0 else { return false }
            state.owed += state.share
            guard state.owed >= 0.5 else { return false }
            state.owed -= 1
            return true
        }
    }
}

/// One ``LoopPressure`` per event loop of the gateway's group, and the timers that measure them.
public struct LoopPressures: Service, CustomStringConvertible {
    private let loops: [(loop: any EventLoop, pressure: LoopPressure)]

    public init(group: any EventLoopGroup, settings: LoopPressure.Settings) {
        loops = group.makeIterator().map { ($0, LoopPressure(settings: settings)) }
    }

    /// The pressure on `loop` (nil for a loop of another group).
    public func pressure(on loop: any EventLoop) -> LoopPressure? {
        loops.first { $0.loop === loop }?.pressure
    }

    /// Each loop's, in the group's order.
    public var all: [LoopPressure] { loops.map(\.pressure) }

    public func run() async throws {
        for (loop, pressure) in loops {
            loop.execute { pressure.learnThread() }
        }
        // Only a limit needs the demand every 10 ms; the metric's total is read when scraped.
        let samplers = loops.filter { $0.pressure.settings.limit != nil }.map { Sampler(loop: $0.loop, pressure: $0.pressure) }
        for sampler in samplers { sampler.start() }
        try? await gracefulShutdown()
        for sampler in samplers { sampler.stop() }
    }

    public var description: String { "LoopPressures" }

    /// Reads its loop thread's scheduler statistics every `interval`, on that thread, for a limit.
    /// Without them (not Linux), it measures nothing and nothing is turned away.
    private final class Sampler: Sendable {
        let loop: any EventLoop
        let pressure: LoopPressure
        private let scheduled = Mutex<Scheduled<Void>?>(nil)
        private let stopped = Atomic(false)

        init(loop: any EventLoop, pressure: LoopPressure) {
            (self.loop, self.pressure) = (loop, pressure)
        }

        func start() {
            loop.execute { [self] in
                // Opened on the loop's thread: "thread-self" is the thread that opens it.
                let file = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)
                guard file >= 0, let first = Schedstat.read(file) else { return }
                schedule(file, last: first)
            }
        }

        func stop() {
            stopped.store(true, ordering: .relaxed)
            scheduled.withLock { $0?.cancel() }
        }

        private func schedule(_ file: Int32, last: (busy: Int64, at: NIODeadline)) {
            guard !stopped.load(ordering: .relaxed) else {
                close(file)
                return
            }
            let next = loop.scheduleTask(in: TimeAmount(pressure.settings.interval)) { [self] in
                guard let now = Schedstat.read(file) else {
                    close(file)
                    return
                }
                let elapsed = (now.at - last.at).nanoseconds
                if elapsed > 0 {
                    pressure.measured(demand: Double(now.busy - last.busy) / Double(elapsed), over: .nanoseconds(elapsed))
                }
                schedule(file, last: now)
            }
            // Cancelled by `stop()`, or by the loop's shutting down: the tick that would close it never runs.
            next.futureResult.whenFailure { _ in close(file) }
            scheduled.withLock { $0 = next }
        }
    }
}

extension LoopPressure {
    /// Called on the loop's thread: its id is the last part of where `/proc/thread-self` points
    /// (`<process>/task/<thread>`; Glibc's `gettid` is not visible to Swift).
    fileprivate func learnThread() {
        var target = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/thread-self", &target, target.count - 1)
        guard count > 0 else { return }
        let path = String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let id = path.split(separator: "/").last.flatMap({ Int32($0) }) { thread.store(id, ordering: .relaxed) }
    }
}

/// A thread's scheduler statistics (`/proc/.../schedstat`: nanoseconds run, nanoseconds waited for a
/// core, time slices).
private enum Schedstat {
    /// The nanoseconds the thread has run plus waited for a core, and when that was read.
    static func read(_ file: Int32) -> (busy: Int64, at: NIODeadline)? {
        var bytes = [UInt8](repeating: 0, count: 96)
        let count = bytes.withUnsafeMutableBytes { pread(file, $0.baseAddress, $0.count, 0) }
        let at = NIODeadline.now()
        guard count > 0 else { return nil }
        let fields = bytes[..<count].split(separator: UInt8(ascii: " ")).prefix(2).compactMap {
            Int64(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard fields.count == 2 else { return nil }
        return (fields[0] + fields[1], at)
    }
}
