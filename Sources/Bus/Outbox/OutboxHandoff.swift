import GRDB
import Synchronization

/// Hands the outbox rows a transaction added to the relay as soon as it commits, so that the relay
/// publishes them without first claiming them in a transaction of its own on the service's one writer
/// (at 500 orders/s that claim was a writer transaction per order, and the next order's commit
/// queued behind it).
///
/// The rows are claimed for the relay in their insert (`claimedBy`, `claimedUntil`), so other relays
/// on the same database keep off them exactly as if the relay had claimed them itself. Which inserts
/// survived is told by a transaction observer, not by `afterNextTransaction`: GRDB drops the events
/// of a rolled-back savepoint (group commit rolls a failing write back alone), so a row rolled back
/// is never handed over, while a commit callback registered inside that savepoint would still run.
///
/// The hand-off is only a shortcut: every handed row is in the table too, claimed by the relay.
/// Whenever memory cannot keep the table's order, the hand-off is suspended (the queue is dropped)
/// and the relay claims from the table, its own rows included, until a claim finds less than a
/// batch. That claim resumes the hand-off on the writer as it commits, so every row handed over
/// afterwards is newer than every row it took. It is suspended from the start (a restarted relay's
/// rows are in the table), when the queue overflows (Redis is away), after a batch that did not
/// wholly go out, and after a loss check re-opened rows.
final class OutboxHandoff: TransactionObserver, Sendable {
    /// Who the rows are claimed for as they are inserted, and for how long.
    struct Claimant: Sendable {
        let relay: String
        let lease: Duration
    }

    private struct State {
        var claimant: Claimant?
        var isActive = false
        /// Committed rows, in commit order, not yet taken by the relay.
        var queue: [OutboxRecord] = []
        /// The open transaction's inserted rows by row id, and the ids of those that survived it:
        /// both touched only on the writer.
        var inserted: [Int64: OutboxRecord] = [:]
        var survived: [Int64] = []
    }

    private let state = Mutex(State())
    private let signal: WakeSignal
    /// Beyond this many rows waiting, the relay is not keeping up: they stay in the table only.
    let capacity: Int

    init(signal: WakeSignal, capacity: Int = 2_000) {
        self.signal = signal
        self.capacity = capacity
    }

    /// From now on, rows are claimed for `relay` as they are inserted (the hand-off starts suspended).
    func attach(relay: String, lease: Duration) {
        state.withLock { $0.claimant = Claimant(relay: relay, lease: lease) }
    }

    var claimant: Claimant? { state.withLock { $0.claimant } }

    /// Called by ``Outbox/append(_:in:)`` on the writer for each row it inserted with a claim.
    func inserted(_ row: OutboxRecord) {
        state.withLock { $0.inserted[row.sequence] = row }
    }

    /// Up to `limit` handed rows, oldest first.
    func take(_ limit: Int) -> [OutboxRecord] {
        state.withLock { state in
            guard !state.queue.isEmpty else { return [] }
            let count = min(limit, state.queue.count)
            defer { state.queue.removeFirst(count) }
            return Array(state.queue.prefix(count))
        }
    }

    /// Drops the queue and stops handing rows over until ``resume()``: they are in the table.
    func suspend() {
        state.withLock { state in
            state.isActive = false
            state.queue.removeAll()
        }
    }

    /// Hands rows over again; called by the relay's table claim as it commits, on the writer.
    func resume() {
        state.withLock { $0.isActive = true }
    }

    var isActive: Bool { state.withLock { $0.isActive } }

    // MARK: - TransactionObserver (all on the writer)

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { table == OutboxRecord.databaseTableName } else { false }
    }

    func databaseDidChange(with event: DatabaseEvent) {
        state.withLock { $0.survived.append(event.rowID) }
    }

    func databaseDidCommit(_ db: Database) {
        let added = state.withLock { state -> Bool in
            defer {
                state.inserted.removeAll(keepingCapacity: true)
                state.survived.removeAll(keepingCapacity: true)
            }
            guard !state.survived.isEmpty else { return false }
            guard state.isActive else { return true }  // the relay claims them from the table
            for rowID in state.survived {
                if let row = state.inserted[rowID] { state.queue.append(row) }
            }
            if state.queue.count > capacity {
                state.isActive = false
                state.queue.removeAll()
            }
            return true
        }
        if added { signal.wake() }
    }

    func databaseDidRollback(_ db: Database) {
        state.withLock { state in
            state.inserted.removeAll(keepingCapacity: true)
            state.survived.removeAll(keepingCapacity: true)
        }
    }
}
