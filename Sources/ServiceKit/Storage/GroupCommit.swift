import GRDB
import Metrics
import Synchronization
import Tracing

/// Group commit: the writes that request handlers hand in while the database is busy committing are
/// applied together in the next transaction, one savepoint each, and committed with one fsync.
///
/// With `synchronous = FULL` every commit waits for the disk; one transaction per request would cap
/// a service at the disk's commits per second. Here a write waits for at most the commit in progress
/// plus its own group's: under light load a group is one write and nothing waits longer than before;
/// under heavy load a group is everything that arrived during the previous commit. As in databases'
/// own group commit:
/// - each caller gets its answer only after the transaction holding its change has committed;
/// - a change that throws is rolled back alone (its savepoint) and its caller gets the error, while
///   the others of the group commit;
/// - if the commit itself fails, every caller of the group gets that error and nothing was written.
///
/// How: each write is put in `pending` and a flush is queued on the database's serial writer queue
/// (GRDB's, off Swift's cooperative pool, since SQLite blocks). A flush takes everything pending at
/// that moment; the flushes queued behind it find less or nothing and return at once.
public final class GroupCommit: Sendable {
    /// One write waiting for a transaction: runs its change and says how to answer its caller once
    /// the transaction's fate is known.
    private struct Write: Sendable {
        let run: @Sendable (Database) throws -> @Sendable (_ commitError: (any Error)?) -> Void
        /// Answers the caller with `error` without running the change.
        let fail: @Sendable (any Error) -> Void
    }

    public let database: any DatabaseWriter
    /// False: a transaction per write (for measuring what groups buy).
    public let enabled: Bool
    private let pending = Mutex<[Write]>([])
    private let groupSize: Recorder

    public init(database: any DatabaseWriter, enabled: Bool = true) {
        self.database = database
        self.enabled = enabled
        groupSize = Recorder(label: "sqlite_group_commit_writes")
    }

    /// Writes handed in and not yet taken by a transaction.
    public var waitingWrites: Int { pending.withLock { $0.count } }

    /// Applies `change` in a transaction shared with the writes handed in meanwhile; returns its
    /// output once that transaction has committed.
    public func write<Output: Sendable>(_ change: @escaping @Sendable (Database) throws -> Output) async throws -> Output {
        // With tracing on, a span from handing the write in to its commit (``ServiceTracing``), in a
        // sampled trace only: a request's span that records nothing needs no children.
        guard ServiceTracing.isEnabled, let current = ServiceContext.current,
            InstrumentationSystem.tracer.activeSpan(identifiedBy: current)?.isRecording == true
        else { return try await enqueue(change) }
        return try await withSpan("SQLite commit", ofKind: .internal) { span in
            span.attributes["db.system.name"] = "sqlite"
            return try await enqueue(change)
        }
    }

    private func enqueue<Output: Sendable>(_ change: @escaping @Sendable (Database) throws -> Output) async throws -> Output {
        // The change runs on the writer's queue, not in this task: it takes the request's id and
        // trace context along (the outbox's `create` spans are children of this commit).
        let requestId = RequestID.current
        let traceContext = ServiceContext.current
        return try await withCheckedThrowingContinuation { continuation in
            let write = Write(
                run: { db in
                    // A task-local binding costs an allocation: the trace context's only when there is one.
                    let output = try RequestID.$current.withValue(requestId) {
                        guard let traceContext else { return try change(db) }
                        return try ServiceContext.$current.withValue(traceContext) { try change(db) }
                    }
                    return { commitError in
                        if let commitError { continuation.resume(throwing: commitError) } else { continuation.resume(returning: output) }
                    }
                },
                fail: { continuation.resume(throwing: $0) })
            pending.withLock { $0.append(write) }
            database.asyncWriteWithoutTransaction { [self] db in flush(db) }
        }
    }

    /// Runs on the writer queue: everything pending (or only the oldest write when disabled), in
    /// one transaction.
    private func flush(_ db: Database) {
        let group = pending.withLock { pending in
            guard enabled else { return pending.isEmpty ? [] : [pending.removeFirst()] }
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !group.isEmpty else { return }
        groupSize.record(group.count)
        if group.count == 1 {
            // Alone, the transaction is the write's savepoint: a change that throws rolls it back.
            var answer: (@Sendable ((any Error)?) -> Void)?
            do {
                try db.inTransaction(.immediate) {
                    answer = try group[0].run(db)
                    return .commit
                }
            } catch {
                return group[0].fail(error)
            }
            return answer!(nil)
        }
        var answers: [@Sendable ((any Error)?) -> Void] = []
        answers.reserveCapacity(group.count)
        do {
            try db.inTransaction(.immediate) {
                for write in group {
                    do {
                        try db.inSavepoint {
                            answers.append(try write.run(db))
                            return .commit
                        }
                    } catch {
                        answers.append { _ in write.fail(error) }  // rolled back alone, whatever the others do
                    }
                    // An I/O error can make SQLite roll the whole transaction back: then nothing of
                    // the group is written, and the writes after it must not run in autocommit mode.
                    guard db.isInsideTransaction else { throw DatabaseError(resultCode: .SQLITE_ABORT, message: "transaction rolled back") }
                }
                return .commit
            }
        } catch {
            for (index, write) in group.enumerated() {
                if index < answers.count { answers[index](error) } else { write.fail(error) }
            }
            return
        }
        for answer in answers { answer(nil) }
    }
}
