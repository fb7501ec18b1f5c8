import Foundation
import Synchronization

/// A service's instances: round robin over the ready ones. An instance is not ready after a failed
/// health check or a refused connection, and ready again after a good health check.
public final class InstancePool: Sendable {
    public let upstream: Upstream
    public let instances: [URL]
    public let breaker: CircuitBreaker
    public let limiter: ConcurrencyLimiter

    private struct State {
        var ready: [Bool]
        var next = 0
    }

    private let state: Mutex<State>

    init(upstream: Upstream, instances: [URL], breaker: CircuitBreaker, limiter: ConcurrencyLimiter) {
        self.upstream = upstream
        self.instances = instances
        self.breaker = breaker
        self.limiter = limiter
        // Ready until shown otherwise: the first health check comes within a second, and a refused
        // connection before that only moves the request to the next instance.
        state = Mutex(State(ready: Array(repeating: true, count: instances.count)))
    }

    /// The next ready instance not in `tried`, round robin; when no ready one is left, the next
    /// untried one anyway (Envoy's "panic" routing): an instance the last health check missed may
    /// well answer (one just started, or one draining, which still serves), and one that is down
    /// refuses the connection at once. Nil when every instance was tried.
    func pick(excluding tried: Set<Int>) -> Int? {
        state.withLock { state in
            let count = instances.count
            let order = (0..<count).map { (state.next + $0) % count }.filter { !tried.contains($0) }
            guard let index = order.first(where: { state.ready[$0] }) ?? order.first else { return nil }
            state.next = (index + 1) % count
            return index
        }
    }

    func setReady(_ index: Int, _ ready: Bool) {
        state.withLock { $0.ready[index] = ready }
    }

    func isReady(_ index: Int) -> Bool { state.withLock { $0.ready[index] } }

    public var readyCount: Int { state.withLock { $0.ready.count { $0 } } }
}
