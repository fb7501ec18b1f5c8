import Bus
import GRDB
import Logging
import Primitives
import ServiceLifecycle

/// Prunes what a service database keeps only for a while: inbox ids (7 days: longer than any event
/// can be delivered again, re-published events included) and idempotency keys (24 h).
public struct Housekeeping: Service {
    public struct Configuration: Sendable {
        public var inboxRetention: Duration = .seconds(7 * 24 * 3600)
        public var idempotencyKeyRetention: Duration = .seconds(24 * 3600)
        public var interval: Duration = .seconds(60)
        public init() {}
    }

    private let database: any DatabaseWriter
    private let configuration: Configuration
    private let logger: Logger

    public init(database: any DatabaseWriter, configuration: Configuration = Configuration(), logger: Logger) {
        self.database = database
        self.configuration = configuration
        self.logger = logger
    }

    /// Prunes every `interval` until the service group shuts down (which ends the wait at once).
    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                do {
                    try await prune()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("housekeeping failed, trying again later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: configuration.interval)
            }
        }
    }

    public func prune(now: Int64 = Timestamp.milliseconds()) async throws {
        let (inboxCutoff, keyCutoff) = (
            now - configuration.inboxRetention.milliseconds, now - configuration.idempotencyKeyRetention.milliseconds
        )
        try await database.write { db in
            try Inbox.prune(olderThan: inboxCutoff, in: db)
            try IdempotentWrites.prune(olderThan: keyCutoff, in: db)
        }
    }
}

extension Housekeeping: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "Housekeeping" }
}
