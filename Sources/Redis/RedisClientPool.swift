import Logging
import ServiceLifecycle
import Synchronization

/// A few ``RedisClient``s used in turn, so that concurrent requests (HTTP reads, say) don't queue
/// behind one connection. A lifecycle service like its clients: closes them all at shutdown.
public final class RedisClientPool: Service, Sendable {
    private let clients: [RedisClient]
    private let next = Atomic<Int>(0)

    public init(endpoint: RedisEndpoint, size: Int, logger: Logger) {
        precondition(size > 0)
        clients = (0..<size).map { _ in RedisClient(endpoint: endpoint, logger: logger) }
    }

    /// A pool of clients made elsewhere, which closes them too.
    public init(clients: [RedisClient]) {
        precondition(!clients.isEmpty)
        self.clients = clients
    }

    /// The next client, round-robin.
    public var client: RedisClient {
        clients[next.add(1, ordering: .relaxed).oldValue % clients.count]
    }

    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }

    public func close() { for client in clients { client.close() } }
}
