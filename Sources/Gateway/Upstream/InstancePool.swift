import Foundation
import Synchronization

/// A service's instances: round robin over the ready ones. An instance is not ready after a failed
/// health check or a refused connection, and ready again after a good health check. The instances
/// can change while the gateway runs (``replace(with:)``: `--instances-file`, which `up` rewrites
/// when it scales a service or replaces its instances); each keeps its readiness across a change.
public final class InstancePool: Sendable {
    public let upstream: Upstream
    public let breaker: CircuitBreaker
    public let limiter: ConcurrencyLimiter

    /// One instance: where it listens, read from its URL once (Foundation's `URL.host` decodes the
    /// URL again on every call, which was 2 % of the gateway's CPU per request), and whether it is
    /// ready.
    struct Instance: Sendable {
        var url: URL
        var address: Address
        var isReady = true
    }

    private struct State {
        /// Kept in an array, looked up by position: hashing a `URL` (what a dictionary keyed by it
        /// did, twice per instance per pick) was 1 % of the gateway's CPU per request.
        var instances: [Instance]
        var next = 0

        func index(of url: URL) -> Int? { instances.firstIndex { $0.url == url } }
    }

    struct Address: Sendable {
        var host: String
        var port: Int

        init(_ url: URL) {
            host = url.host ?? "127.0.0.1"
            port = url.port ?? 80
        }
    }

    private let state: Mutex<State>

    init(upstream: Upstream, instances: [URL], breaker: CircuitBreaker, limiter: ConcurrencyLimiter) {
        self.upstream = upstream
        self.breaker = breaker
        self.limiter = limiter
        // Ready until shown otherwise: the first health check comes within a second, and a refused
        // connection before that only moves the request to the next instance.
        state = Mutex(State(instances: Self.unique(instances).map { Instance(url: $0, address: Address($0)) }))
    }

    /// The instances now, in their order.
    public var instances: [URL] { state.withLock { $0.instances.map(\.url) } }

    /// Takes `instances` as the pool's from now on. One already in the pool keeps its readiness; a
    /// new one is ready until its first check says otherwise (as at start). A request under way on
    /// a removed instance finishes there; no new one goes to it.
    func replace(with instances: [URL]) {
        state.withLock { state in
            let known = state
            state = State(
                instances: Self.unique(instances).map { url in
                    known.index(of: url).map { known.instances[$0] } ?? Instance(url: url, address: Address(url))
                })
        }
    }

    /// Each URL once, in its first place.
    private static func unique(_ urls: [URL]) -> [URL] {
        var seen: Set<URL> = []
        return urls.filter { seen.insert($0).inserted }
    }

    /// The next ready instance not in `tried`, round robin; when no ready one is left, the next
    /// untried one anyway (Envoy's "panic" routing): an instance the last health check missed may
    /// well answer (one just started, or one draining, which still serves), and one that is down
    /// refuses the connection at once. Nil when every instance was tried.
    func pick(excluding tried: [URL]) -> Instance? {
        state.withLock { state in
            let count = state.instances.count
            var untried: Int?
            for step in 0..<count {
                let index = (state.next + step) % count
                guard !tried.contains(state.instances[index].url) else { continue }
                if state.instances[index].isReady {
                    untried = index
                    break
                }
                untried = untried ?? index
            }
            guard let index = untried else { return nil }
            state.next = (index + 1) % count
            return state.instances[index]
        }
    }

    /// Marks `instance`; an instance no longer in the pool is left alone. Returns whether that
    /// changed its state.
    @discardableResult
    func setReady(_ instance: URL, _ ready: Bool) -> Bool {
        state.withLock { state in
            guard let index = state.index(of: instance), state.instances[index].isReady != ready else { return false }
            state.instances[index].isReady = ready
            return true
        }
    }

    func isReady(_ instance: URL) -> Bool {
        state.withLock { state in state.index(of: instance).map { state.instances[$0].isReady } ?? false }
    }

    public var readyCount: Int { state.withLock { $0.instances.count(where: \.isReady) } }

    /// Each instance with whether it is ready now, for `/health`.
    public var readiness: [(instance: URL, ready: Bool)] {
        state.withLock { $0.instances.map { ($0.url, $0.isReady) } }
    }
}
