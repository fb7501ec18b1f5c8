import Logging
import Synchronization

/// A few ``RedisClient``s used in turn, so that concurrent requests (HTTP reads, say) don't queue
/// behind one connection's thread.
public final class RedisClientPool: Sendable {
    private let clients: [RedisClient]
    private let next = Atomic<Int>(0)

    public init(endpoint: RedisEndpoint, size: Int, name: String, logger: Logger) {
        precondition(size > 0)
        clients = (0..<size).map { RedisClient(endpoint: endpoint, name: "\(name)-\($0)", logger: logger) }
    }

    /// The next client, round-robin.
    public var client: RedisClient {
        clients[next.add(1, ordering: .relaxed).oldValue % clients.count]
    }

    public func close() { clients.forEach { $0.close() } }
}
