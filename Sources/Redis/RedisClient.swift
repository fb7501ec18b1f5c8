import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// An async face over one ``RedisConnection``, and a lifecycle service that closes it.
///
/// hiredis calls block the calling thread for as long as the network or a `BLOCK` timeout takes.
/// Doing that on Swift's cooperative pool (two threads on a two-core machine) would stall every task
/// in the process, so each client runs its connection on a thread of its own (``ConnectionThread``):
/// commands from many tasks queue up there and run one at a time, in order. A task that prefers
/// that thread as its executor (``executor``; a consumer, a relay) runs there and calls inline.
///
/// When the connection breaks, the next call reconnects; consecutive failed connects wait an
/// exponential backoff first, so a Redis that is down is not hammered. Run the client in the `ServiceGroup` before the services that use
/// it (it is then shut down after them), or call ``close()``.
public final class RedisClient: Service, Sendable {
    /// Whether the client may still be used, and how many connects in a row have failed.
    private enum State {
        case open(failedConnects: Int)
        case closed
    }

    public let endpoint: RedisEndpoint
    private let thread: ConnectionThread
    private let logger: Logger
    private let backoff: Backoff
    private let state = Mutex(State.open(failedConnects: 0))
    private let connectionsMade = Atomic<Int>(0)
    /// Touched only on `thread`, one job at a time.
    private nonisolated(unsafe) var connection: RedisConnection?

    public init(
        endpoint: RedisEndpoint, logger: Logger,
        backoff: Backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(500))
    ) {
        self.endpoint = endpoint
        self.thread = ConnectionThread(name: endpoint.sentinels == nil ? "redis \(endpoint.port)" : "redis primary")
        self.logger = logger
        self.backoff = backoff
    }

    deinit { thread.stop() }

    /// The connection's thread as a task executor: a task that talks mostly to this client runs
    /// its code there with `withTaskExecutorPreference(client.executor)`, and its calls to this
    /// client then run inline, with no hop to the thread and back.
    public var executor: any TaskExecutor { thread }

    /// Whether the caller runs on this connection's thread (see ``ConsumerThread`` in Bus).
    public var isOnItsThread: Bool { thread.isCurrent }

    /// Waits for the graceful shutdown of the service group, then closes the connection.
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }

    /// Runs `body` with the connection, on the connection's thread. Connection problems close the
    /// connection (the next call reconnects) and are rethrown.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        try await withConnection(blocking: nil, body)
    }

    /// ``withConnection(_:)`` with the socket's timeout at the endpoint's (`blocking` nil), or
    /// widened for a command that blocks on the server that long, rounded up to whole seconds so
    /// that reads waiting a little less each time leave it alone (``RedisConnection/widenReadTimeout(to:)``).
    private func withConnection<T: Sendable>(blocking: Duration?, _ body: @escaping @Sendable (RedisConnection) throws -> T)
        async throws -> T
    {
        let timeout = blocking.map { endpoint.timeout + .seconds(($0.milliseconds + 999) / 1000) }
        let failedConnects: Int = try state.withLock { state in
            guard case .open(let failed) = state else { throw RedisError.closed }
            return failed
        }
        if failedConnects > 0 { try await Task.sleep(for: backoff.delay(attempt: failedConnects)) }
        do {
            let onThread: @Sendable () throws -> T = { [self] in
                let connection = try self.connection ?? self.connect()
                self.connection = connection
                do {
                    if let timeout { connection.widenReadTimeout(to: timeout) } else { connection.setReadTimeout(endpoint.timeout) }
                    return try body(connection)
                } catch let error as RedisError where error.isConnectionProblem {
                    connection.close()
                    self.connection = nil
                    throw error
                }
            }
            let result = try await thread.isCurrent ? onThread() : thread.run(onThread)
            if failedConnects > 0 {
                state.withLock { if case .open = $0 { $0 = .open(failedConnects: 0) } }
                logger.info("redis connection restored", metadata: ["redis": "\(endpoint)"])
            }
            return result
        } catch let error as RedisError where error.isConnectionProblem {
            let failed = state.withLock { state -> Int in
                guard case .open(let failed) = state else { return 0 }
                state = .open(failedConnects: failed + 1)
                return failed + 1
            }
            if failed == 1 {
                logger.warning("redis connection problem", metadata: ["redis": "\(endpoint)", "error": "\(error)"])
            }
            throw error
        } catch is CancellationError where isClosed {
            throw RedisError.closed  // the thread pool refuses work once the client is closed
        }
    }

    /// A new connection, numbered. Runs on `thread`.
    private func connect() throws -> RedisConnection {
        let connection = try RedisConnection.open(endpoint)
        connection.serial = connectionsMade.add(1, ordering: .relaxed).newValue
        return connection
    }

    public func command(_ arguments: [String]) async throws -> RedisReply {
        try await withConnection { try $0.command(arguments) }
    }

    /// A command that blocks on the server for up to `blocking` (`XREADGROUP … BLOCK`, `XREAD … BLOCK`):
    /// the socket's read timeout is widened by that much for it alone.
    public func command(_ arguments: [String], blocking: Duration) async throws -> RedisReply {
        try await pipeline([arguments], blocking: blocking)[0]
    }

    /// A pipeline whose last command may block on the server for up to `blocking`.
    public func pipeline(_ commands: [[String]], blocking: Duration) async throws -> [RedisReply] {
        try await withConnection(blocking: blocking) { try $0.pipeline(commands) }
    }

    /// `commands`, then `read` (an `XREADGROUP` or `XREAD` that may block on the server for up to
    /// `blocking`), in one round trip. The read's entries are decoded here, on the caller's task,
    /// from the reply as hiredis' reader recorded it (``RedisConnection/pipeline(_:thenRecording:)``):
    /// the connection's thread, which Redis's answers wait on, only parses.
    public func pipeline(_ commands: [[String]], thenRead read: [String], blocking: Duration) async throws -> (
        replies: [RedisReply], entries: [StreamEntry]
    ) {
        let (replies, answer) = try await withConnection(blocking: blocking) { try $0.pipeline(commands, thenRecording: read) }
        return (replies, answer.entries())
    }

    /// Reading ahead (``RedisConnection/sendAhead(_:thenRecording:)``): `commands`, then `read`
    /// (one that does not block), written now; ``receiveRead()`` takes the answer, and calls in
    /// between are answered after it, in order.
    public func sendRead(_ commands: [[String]], thenRead read: [String]) async throws {
        try await withConnection { try $0.sendAhead(commands, thenRecording: read) }
    }

    /// The answer to ``sendRead(_:thenRead:)``, as recorded: decoding it is left to the caller.
    public func receiveRead() async throws -> (replies: [RedisReply], read: RecordedReply) {
        try await withConnection { try $0.receiveAhead() }
    }

    public func pipeline(_ commands: [[String]]) async throws -> [RedisReply] {
        try await withConnection { try $0.pipeline(commands) }
    }

    private var isClosed: Bool {
        state.withLock { if case .closed = $0 { true } else { false } }
    }

    /// Closes the connection once queued commands have run, and ends the thread. Idempotent.
    public func close() {
        let wasOpen = state.withLock { state -> Bool in
            defer { state = .closed }
            if case .open = state { return true }
            return false
        }
        guard wasOpen else { return }
        thread.submit { [self] in
            self.connection?.close()
            self.connection = nil
        }
        thread.stop()
    }
}
