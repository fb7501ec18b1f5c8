import Tracing

/// Stage "handle": decodes a batch of attempts, hands the events to the service's handler, and says
/// what becomes of each entry. Deciding is pure: ``disposition(of:outcome:maxAttempts:)``.
struct Dispatcher: Sendable {
    /// What becomes of one entry after its attempt.
    enum Disposition: Equatable {
        case acknowledge
        /// The event failed by itself: try again after a backoff, counting the attempt.
        case retry
        case deadLetter(reason: String)
        /// The infrastructure failed: hold the entry and try it again once the consumer's pause is
        /// over, without counting an attempt.
        case pause
    }

    let handler: StreamConsumer.BatchHandler
    let maxAttempts: Int
    /// The consumer group, for the `process` spans (``MessageTrace``).
    var group = ""

    /// Handles `batch`; returns each attempt with its disposition, and the handler's error for the
    /// ones to retry. Attempts the handler gave no outcome for are left out: they stay pending and
    /// are claimed later.
    func handle(_ batch: [Attempt]) async -> [(attempt: Attempt, disposition: Disposition, error: (any Error)?)] {
        var results: [(attempt: Attempt, disposition: Disposition, error: (any Error)?)] = []
        results.reserveCapacity(batch.count)
        // Three arrays side by side, not one of tuples: the events go to the handler as they are,
        // where a tuple per event was copied into the handler's array and again out of the loop's
        // pattern (a dozen retains per copy: 11 % of a consumer's CPU in `perf`).
        var attempts: [Attempt] = []
        var events: [ReceivedEvent] = []
        var spans: [(any Span)?] = []
        attempts.reserveCapacity(batch.count)
        events.reserveCapacity(batch.count)
        spans.reserveCapacity(batch.count)
        for attempt in batch {
            let entry = attempt.entry
            guard let fields = entry.fieldList else {
                results.append((attempt, .acknowledge, nil))  // deleted while pending: nothing left to handle
                continue
            }
            do {
                let envelope = try EventEnvelope(fieldList: fields)
                let trace = MessageTrace.startProcess(envelope, stream: entry.stream, entryId: entry.id, group: group)
                attempts.append(attempt)
                events.append(
                    ReceivedEvent(
                        envelope: envelope, stream: entry.stream, entryId: entry.id, attempt: attempt.number, traceContext: trace.context))
                spans.append(trace.span)
            } catch {
                results.append((attempt, .deadLetter(reason: "undecodable entry: \(error)"), nil))
            }
        }
        guard !events.isEmpty else { return results }
        let outcomes = await handler(events)
        for index in attempts.indices {
            // A `process` span ends with its event's outcome: after the handler's commit.
            if let span = spans[index] {
                if index < outcomes.count, let error = outcomes[index] { span.recordError(error) }
                span.end()
            }
            guard index < outcomes.count else { continue }
            let outcome = outcomes[index]
            results.append((attempts[index], Self.disposition(of: attempts[index], outcome: outcome, maxAttempts: maxAttempts), outcome))
        }
        return results
    }

    /// Handled: acknowledge. The infrastructure failed: pause. The event failed: retry, until the
    /// attempts reach `maxAttempts`.
    static func disposition(of attempt: Attempt, outcome: (any Error)?, maxAttempts: Int) -> Disposition {
        guard let error = outcome else { return .acknowledge }
        if Failure.isInfrastructure(error) { return .pause }
        return attempt.number >= maxAttempts ? .deadLetter(reason: "\(error)") : .retry
    }
}
