import Redis

/// The one rule for blocking in a consumer's handler, and its check.
///
/// **The rule.** A consumer runs on its Redis connection's thread (``StreamConsumer/run()`` prefers
/// that executor), so its reads and acknowledgements run inline with no hop to another thread. A
/// handler it calls may block there — a synchronous SQLite write waits for the writer on this very
/// thread instead of a hop to GRDB's queue and back — because blocking that thread holds up only
/// this consumer. Anywhere else (Swift's cooperative pool, an HTTP handler, a task that left the
/// thread) blocking would hold up every task of the process, so code there must await.
///
/// **The check.** Blocking is reachable only through ``block(_:)`` of the value ``current``, which
/// exists only while a consumer's handler runs, and which checks, every time, that the caller
/// really is on that consumer's thread. Off it — a handler that moved itself to another executor,
/// or a consumer whose client has stopped, whose jobs then run on the shared pool — it throws
/// ``Left`` instead of blocking: the batch is not acknowledged, the consumer logs it and holds the
/// entries as for an infrastructure failure (no attempt counted, nothing dead-lettered for a bug
/// of ours), and tries again.
///
/// Alternatives rejected: a task-local flag alone (what this replaced) says a handler *may* block
/// but not that it *is* on the thread, so one executor change blocked a shared thread silently; a
/// `precondition` would crash a whole service over one misplaced handler; blocking whenever the
/// thread happens to be a connection thread would let an HTTP handler block a relay's thread.
public struct ConsumerThread: Sendable {
    let client: RedisClient

    /// The thread of the consumer whose handler is running, or nil outside a consumer's handler.
    @TaskLocal public static var current: ConsumerThread?

    /// Whether the caller runs on the consumer's thread now.
    public var isCurrent: Bool { client.isOnItsThread }

    /// Runs `body`, which blocks, after checking that it runs on the consumer's own thread.
    public func block<T>(_ body: () throws -> T) throws -> T {
        guard isCurrent else { throw Left() }
        return try body()
    }

    /// A handler tried to block off its consumer's thread: see ``ConsumerThread``.
    public struct Left: InfrastructureFailure, CustomStringConvertible {
        public var description: String {
            "a handler tried to block off its consumer's thread (the rule in ConsumerThread is broken): nothing was done"
        }
    }
}
