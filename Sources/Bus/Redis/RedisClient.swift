import Logging
import Synchronization

/// An async face over one ``RedisConnection`` that lives on its own ``DedicatedThread``.
///
/// Commands from many tasks queue up on that thread and run one at a time. When the connection
/// breaks, the next call reconnects; consecutive failed connects wait an exponential backoff first,
/// so a Redis that is down is not hammered. Use ``withRetry(_:)`` for work that should outlast an outage.
public final class RedisClient: Sendable {
    public let endpoint: RedisEndpoint
    private let thread: DedicatedThread
    private let logger: Logger
    private let backoff: Backoff
    /// Touched only on `thread`.
    private nonisolated(unsafe) var connection: RedisConnection?
    private let failures = Mutex(0)
    private let closed = Mutex(false)

    public init(endpoint: RedisEndpoint, name: String = "redis", logger: Logger, backoff: Backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(500))) {
        self.endpoint = endpoint
        self.thread = DedicatedThread(name: "bus.\(name)")
        self.logger = logger
        self.backoff = backoff
    }

    deinit { thread.stop() }

    /// Runs `body` with the connection, on the connection's thread. Connection problems close the
    /// connection (the next call reconnects) and are rethrown.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        if closed.withLock({ $0 }) { throw RedisError.closed }
        let failed = failures.withLock { $0 }
        if failed > 0 { try await Task.sleep(for: backoff.delay(attempt: failed)) }
        do {
            let result = try await thread.run { [self] in
                let connection = try self.connection ?? RedisConnection(endpoint: endpoint)
                self.connection = connection
                do {
                    return try body(connection)
                } catch let error as RedisError where error.isConnectionProblem {
                    connection.close()
                    self.connection = nil
                    throw error
                }
            }
            if failed > 0 {
                failures.withLock { $0 = 0 }
                logger.info("redis connection restored", metadata: ["redis": "\(endpoint)"])
            }
            return result
        } catch let error as RedisError where error.isConnectionProblem {
            let count = failures.withLock { value in
                value += 1
                return value
            }
            if count == 1 {
                logger.warning("redis connection problem", metadata: ["redis": "\(endpoint)", "error": "\(error)"])
            }
            throw error
        }
    }

    public func command(_ arguments: [String]) async throws -> RedisReply {
        try await withConnection { try $0.command(arguments) }
    }

    public func pipeline(_ commands: [[String]]) async throws -> [RedisReply] {
        try await withConnection { try $0.pipeline(commands) }
    }

    /// Keeps trying `operation` through connection problems (each attempt waits the client's backoff)
    /// until it succeeds, fails otherwise, or the task is cancelled.
    public func withRetry<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        while true {
            do {
                return try await operation()
            } catch let error as RedisError where error.isConnectionProblem {
                try Task.checkCancellation()
            }
        }
    }

    /// Closes the connection and ends the thread once queued commands have run.
    public func close() {
        closed.withLock { $0 = true }
        thread.submit { [self] in
            self.connection?.close()
            self.connection = nil
        }
        thread.stop()
    }
}
