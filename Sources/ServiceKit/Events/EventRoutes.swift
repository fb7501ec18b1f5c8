import Bus
import Contracts
import GRDB
import Synchronization
import Tracing

/// Routes events by type to handlers that change a service's SQLite state.
///
/// Every event is applied at most once per consuming group: its id goes into the inbox in the same
/// transaction as its effects. A batch from the consumer is applied in one write transaction with a
/// savepoint per event, so one commit serves the whole batch while a failing event is rolled back
/// alone and retried. Types with no route are skipped: a consumer reads whole streams, not all of
/// which concern it.
public struct EventRoutes: Sendable {
    public typealias Apply = @Sendable (EventEnvelope, Database) throws -> Void

    /// The inbox key: the consuming group's name.
    public let group: String
    public let database: any DatabaseWriter
    private var routes: [String: Apply] = [:]
    /// Entries of batches that needed no transaction, whose position the next transaction records.
    private let passedOver = PassedOver()

    public init(group: String, database: any DatabaseWriter) {
        self.group = group
        self.database = database
    }

    public mutating func on<Event: DomainEvent>(_: Event.Type, _ apply: @escaping @Sendable (Event, EventEnvelope, Database) throws -> Void)
    {
        routes[Event.type] = { envelope, db in try apply(try envelope.payload(as: Event.self), envelope, db) }
    }

    /// One handler for several event types, which reads the envelope itself.
    public mutating func on(types: [String], _ apply: @escaping Apply) {
        for type in types { routes[type] = apply }
    }

    /// Whether events of `type` have a route here (the others are skipped, and never in the inbox).
    public func handles(_ type: String) -> Bool { routes[type] != nil }

    /// Applies one event inside the caller's transaction, once per event id.
    public func apply(_ envelope: EventEnvelope, in db: Database) throws {
        guard let route = routes[envelope.type] else { return }
        guard try Inbox.firstDelivery(of: envelope.id, to: group, in: db) else { return }
        try route(envelope, db)
    }

    /// `change` in a write transaction. In a consumer's handler it waits for the writer on the
    /// consumer's own thread, checked (``ConsumerThread``): GRDB's writer queue, when idle, then
    /// runs the transaction on this very thread, instead of a hop to the writer's thread and one
    /// back per batch. Elsewhere (an HTTP request's replay of dead letters, a test) it awaits.
    private func write<T: Sendable>(_ change: @escaping @Sendable (Database) throws -> T) async throws -> T {
        if let thread = ConsumerThread.current { return try thread.block { try Self.writeBlocking(database, change) } }
        return try await database.write(change)
    }

    /// Applies `event` within its `process` span's context (``MessageTrace``): the events it
    /// commits, and a route's own spans, belong to its trace.
    private func apply(_ event: ReceivedEvent, in db: Database) throws {
        guard let context = event.traceContext else { return try apply(event.envelope, in: db) }
        try ServiceContext.$current.withValue(context) { try apply(event.envelope, in: db) }
    }

    /// Where the group now is on each stream, in the same transaction (``ConsumerPositions``).
    private func recordPositions(of events: some Sequence<ReceivedEvent>, in db: Database) throws {
        try ConsumerPositions.advance(group, to: events.map { ($0.stream, $0.entryId) } + passedOver.take(), in: db)
    }

    /// GRDB's synchronous write: an async context would pick its async overload.
    private static func writeBlocking<T>(_ database: any DatabaseWriter, _ change: (Database) throws -> T) throws -> T {
        try database.write(change)
    }

    /// The consumer's batch handler: the batch in one transaction, a savepoint per event. When the
    /// transaction fails as a whole for a reason of the event's own making, each event is tried again
    /// in a transaction of its own, so that only the guilty one counts a failed attempt.
    public var batchHandler: StreamConsumer.BatchHandler {
        { [self] events in
            // A batch of events none of which concerns this service (Rental reads every
            // DeliveryScheduled, one per order) is acknowledged without a transaction: an empty one
            // still took the service's one writer between two of its commits.
            if events.allSatisfy({ routes[$0.envelope.type] == nil }) {
                passedOver.note(events)
                return Array(repeating: nil, count: events.count)
            }
            do {
                if events.count == 1 {
                    // Alone, the transaction is the event's savepoint.
                    try await write { db in
                        try apply(events[0], in: db)
                        try recordPositions(of: events, in: db)
                    }
                    return [nil]
                }
                return try await write { db in
                    let outcomes = events.map { event -> (any Error)? in
                        do {
                            try db.inSavepoint {
                                try apply(event, in: db)
                                return .commit
                            }
                            return nil
                        } catch {
                            return error
                        }
                    }
                    try recordPositions(of: zip(events, outcomes).filter { $0.1 == nil }.map(\.0), in: db)
                    return outcomes
                }
            } catch  where Failure.isInfrastructure(error) || events.count == 1 {
                return Array(repeating: error, count: events.count)
            } catch {
                var outcomes: [(any Error)?] = []
                for event in events {
                    do {
                        try await write { db in
                            try apply(event, in: db)
                            try recordPositions(of: [event], in: db)
                        }
                        outcomes.append(nil)
                    } catch {
                        outcomes.append(error)
                    }
                }
                return outcomes
            }
        }
    }
}

/// The entries of the batches a consumer passed over without a transaction (none of their events
/// concerned the service): their positions ride along with the next batch it applies.
private final class PassedOver: Sendable {
    private let entries = Mutex<[String: String]>([:])

    func note(_ events: [ReceivedEvent]) {
        entries.withLock { entries in for event in events { entries[event.stream] = event.entryId } }
    }

    func take() -> [(stream: String, entryId: String)] {
        entries.withLock { entries in
            defer { entries.removeAll() }
            return entries.map { ($0.key, $0.value) }
        }
    }
}
