import Bus
import Contracts
import GRDB

/// How a service brings a database restored from a backup up to date (``StreamRecovery``): what
/// each of its own stream's event types did to its state, and what it does with the events it consumes.
///
/// Its own events are facts: they are applied as what happened, with the ids, statuses and times
/// they carry, and never published again. The events it consumes go through its live
/// ``EventRoutes`` (inbox included), in stream order after its own: those that were answered before
/// the loss find their answers applied, and an answer made again is dropped (its cause's answer is
/// already on the stream). A service whose live routes cannot run in that order gives its own.
public struct RecoveryRoutes: Sendable {
    /// Applies one of the service's own events to its state; `cause` is the consumed event it
    /// answered, when the recovery read it.
    public typealias ApplyOwn = @Sendable (EventEnvelope, _ cause: EventEnvelope?, Database) throws -> Void

    public let ownStream: String?
    public let consumed: EventRoutes
    public let consumedStreams: [String]
    private var own: [String: ApplyOwn] = [:]
    /// Runs last in the recovery's transaction: whatever is derived from the rest (Rental's copies).
    public var finish: @Sendable (Database) throws -> Void = { _ in }

    public init(ownStream: String?, consumed: EventRoutes, consumedStreams: [String]) {
        self.ownStream = ownStream
        self.consumed = consumed
        self.consumedStreams = consumedStreams
    }

    public mutating func onOwn<Event: DomainEvent>(
        _: Event.Type, _ apply: @escaping @Sendable (Event, EventEnvelope, EventEnvelope?, Database) throws -> Void
    ) {
        own[Event.type] = { envelope, cause, db in try apply(try envelope.payload(as: Event.self), envelope, cause, db) }
    }

    /// Applies an own event; one of a type with no route changes nothing.
    func applyOwn(_ envelope: EventEnvelope, cause: EventEnvelope?, in db: Database) throws {
        try own[envelope.type]?(envelope, cause, db)
    }
}

/// What a recovery did, and what it could not do.
public struct RecoveryReport: Sendable, Equatable {
    public var service: String
    /// Own events the database lacked, applied from its stream.
    public var ownApplied = 0
    /// Rows of the backup's outbox found on the stream, marked published instead of sent again.
    public var markedPublished = 0
    /// Consumed events the database lacked, applied, per stream.
    public var consumedApplied: [String: Int] = [:]
    /// Answers made again to consumed events and dropped: their answers were on the stream.
    public var answersDropped = 0
    /// Own events that came from a request: their idempotency keys are not recovered.
    public var requestsReplayed = 0
    public var entriesRead = 0
    /// Lost history, one line per stream; the recovery went on only with `--accept-loss`.
    public var losses: [String] = []
    /// Events that could not be applied (only with `--accept-loss`): how many, and the first few.
    public var failureCount = 0
    public var failures: [String] = []
    public var seconds = 0.0

    public init(service: String) { self.service = service }

    /// Whether the database lacked changes the streams had (rows that went out unmarked are not one:
    /// a crash leaves those).
    public var recovered: Bool { ownApplied + consumedApplied.values.reduce(0, +) > 0 || !losses.isEmpty }

    public var summary: String {
        let consumed = consumedApplied.sorted { $0.key < $1.key }.map { "\($0.value) from \($0.key)" }.joined(separator: ", ")
        return "\(service) caught up from the streams in \(String(format: "%.2f", seconds)) s: \(ownApplied) of its own events applied, "
            + "\(markedPublished) outbox rows found published, consumed events applied: \(consumed.isEmpty ? "none" : consumed), "
            + "\(answersDropped) repeated answers dropped, \(entriesRead) entries read"
    }

    /// What the operator must know: nothing here is silent.
    public var warnings: [String] {
        var warnings = losses.map { "history lost: \($0)" }
        if failureCount > 0 {
            warnings.append("\(failureCount) events could not be applied and were skipped, e.g. \(failures.joined(separator: "; "))")
        }
        if requestsReplayed > 0 {
            warnings.append(
                "\(requestsReplayed) requests made after the backup were recovered from the stream, but not their Idempotency-Key "
                    + "records: a client retrying one of them with the same key makes it again")
        }
        return warnings
    }
}

/// Why a service did not start on its database.
public enum RecoveryError: Error, CustomStringConvertible {
    /// The streams no longer reach back to the database: starting would lose changes silently.
    case historyGone([String])
    /// An event of the streams could not be applied to the database.
    case cannotApply(event: String, type: String, reason: String)

    public var description: String {
        switch self {
        case .historyGone(let losses):
            "the streams no longer hold everything this database lacks (\(losses.joined(separator: "; "))); restore a newer backup, "
                + "or start with --accept-loss to go on without it"
        case .cannotApply(let event, let type, let reason):
            "could not apply \(type) \(event) from the streams: \(reason); start with --accept-loss to skip what cannot be applied"
        }
    }
}
