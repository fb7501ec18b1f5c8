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

    private struct State {
        var instances: [URL]
        var ready: [URL: Bool]
        /// Each instance's host and port, read from its URL once: Foundation's `URL.host` decodes
        /// the URL again on every call, which was 2 % of the gateway's CPU per request.
        var addresses: [URL: Address]
        var next = 0

        init(instances: [URL], ready: [URL: Bool]) {
            self.instances = instances
            self.ready = ready
            addresses = Dictionary(instances.map { ($0, Address($0)) }) { first, _ in first }
        }
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
        state = Mutex(State(instances: instances, ready: Dictionary(instances.map { ($0, true) }) { first, _ in first }))
    }

    /// The instances now, in their order.
    public var instances: [URL] { state.withLock { $0.instances } }

    /// Takes `instances` as the pool's from now on. One already in the pool keeps its readiness; a
    /// new one is ready until its first check says otherwise (as at start). A request under way on
    /// a removed instance finishes there; no new one goes to it.
    func replace(with instances: [URL]) {
        state.withLock { state in
            state = State(instances: instances, ready: Dictionary(instances.map { ($0, state.ready[$0] ?? true) }) { first, _ in first })
        }
    }

    /// The next ready instance not in `tried`, round robin; when no ready one is left, the next
    /// untried one anyway (Envoy's "panic" routing): an instance the last health check missed may
    /// well answer (one just started, or one draining, which still serves), and one that is down
    /// refuses the connection at once. Nil when every instance was tried.
    func pick(excluding tried: Set<URL>) -> URL? {
        state.withLock { state in
            let count = state.instances.count
            guard count > 0 else { return nil }
            let order = (0..<count).map { (state.next + $0) % count }.filter { !tried.contains(state.instances[$0]) }
            guard let index = order.first(where: { state.ready[state.instances[$0]] == true }) ?? order.first else { return nil }
            state.next = (index + 1) % count
            return state.instances[index]
        }
    }

    /// Marks `instance`; an instance no longer in the pool is left alone. Returns whether that
    /// changed its state.
    @discardableResult
    func setReady(_ instance: URL, _ ready: Bool) -> Bool {
        state.withLock { state in
            guard let was = state.ready[instance], was != ready else { return false }
            state.ready[instance] = ready
            return true
        }
    }

    /// Where `instance` listens.
    func address(of instance: URL) -> Address {
        state.withLock { $0.addresses[instance] } ?? Address(instance)
    }

    func isReady(_ instance: URL) -> Bool { state.withLock { $0.ready[instance] == true } }

    public var readyCount: Int { state.withLock { state in state.instances.count { state.ready[$0] == true } } }

    /// Each instance with whether it is ready now, for `/health`.
    public var readiness: [(instance: URL, ready: Bool)] {
        state.withLock { state in state.instances.map { ($0, state.ready[$0] == true) } }
    }
}
