import Synchronization

/// Whether this process is draining: set on SIGTERM (``DrainGate``), after which `/ready` answers
/// 503 so that load balancers and the gateway stop sending new requests, while requests keep being
/// served for the drain period.
public final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    public func startDraining() { draining.store(true, ordering: .relaxed) }
}
