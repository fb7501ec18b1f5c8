import Logging
import Redis
import ServiceLifecycle

/// The running consumer: owns its stages (plain values, used by the one task that runs the loop)
/// and passes each batch through them.
struct ConsumerLoop {
    private let logger: Logger
    private let stats: ConsumerStats
    private let blockTimeout: Duration
    private let reader: StreamReader
    private let dispatcher: Dispatcher
    private let deadLetterer: DeadLetterer
    private var claimer: AbandonedEntryClaimer
    private var retries: RetrySchedule
    private var acknowledger: Acknowledger
    private var pause: PauseState

    init(
        configuration: StreamConsumer.Configuration, client: RedisClient, logger: Logger, stats: ConsumerStats,
        handler: @escaping StreamConsumer.BatchHandler
    ) {
        let (streams, group, consumer) = (configuration.streams, configuration.group, configuration.consumer)
        self.logger = logger
        self.stats = stats
        blockTimeout = configuration.blockTimeout
        reader = StreamReader(client: client, streams: streams, group: group, consumer: consumer, batchSize: configuration.batchSize)
        dispatcher = Dispatcher(handler: handler, maxAttempts: configuration.maxAttempts, group: group)
        deadLetterer = DeadLetterer(client: client, group: group, consumer: consumer)
        claimer = AbandonedEntryClaimer(
            client: client, streams: streams, group: group, consumer: consumer, idle: configuration.claimIdle,
            interval: configuration.claimInterval, batchSize: configuration.batchSize, logger: logger)
        retries = RetrySchedule(
            client: client, group: group, consumer: consumer, backoff: configuration.retryBackoff,
            longestWait: configuration.claimIdle / 2)
        acknowledger = Acknowledger(client: client, group: group)
        pause = PauseState(
            client: client, group: group, consumer: consumer, backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(1)),
            touchInterval: configuration.claimIdle / 3)
    }

    mutating func run() async {
        logger.info("consumer started", metadata: ["streams": "\(reader.streams.joined(separator: ","))"])
        var needsSetup = true
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            stats.progress.turned()
            do {
                if needsSetup {
                    try await setUp()
                    needsSetup = false
                }
                try await iterate()
            } catch let error as RedisError where error.isConnectionProblem {
                continue  // the client waits its backoff before reconnecting
            } catch let error as RedisError where error.isMissingGroup {
                logger.warning("consumer group missing, recreating it", metadata: ["error": "\(error)"])
                acknowledger.forgetAll()
                retries.forgetAll()
                pause.forgetAll()
                claimer.restart()
                needsSetup = true
            } catch is CancellationError {
                break
            } catch {
                logger.error("consumer iteration failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        try? await acknowledger.flush()
        logger.info("consumer stopped")
    }

    /// Creates the group if needed and schedules what this consumer name held before a restart.
    private mutating func setUp() async throws {
        try await reader.ensureGroup()
        stats.recordGroupReady()
        let own = try await reader.ownPending()
        for (stream, pending) in own { retries.scheduleNow(pending, on: stream, now: .now) }
        let count = own.values.map(\.count).reduce(0, +)
        if count > 0 { logger.info("recovering own pending entries", metadata: ["count": "\(count)"]) }
    }

    private mutating func iterate() async throws {
        if pause.isPaused {
            try await acknowledger.flush()
            // Nothing new while the infrastructure is failing: keep the held entries ours, then try them again.
            guard let held = try await pause.heldWhenDue(now: .now) else { return }
            try await process(held)
            return
        }
        let now = ContinuousClock.now
        let claimed = try await claimer.claimIfDue(now: now)
        for attempt in claimed { retries.forget(attempt.entry.key) }
        stats.recordClaimed(claimed.count)
        var batch = claimed + (try await retries.claimDue(now: now))
        if batch.isEmpty {
            var wait = min(blockTimeout, claimer.nextScan - now)
            if let due = retries.nextDue { wait = min(wait, due - now) }
            // The last batch's acknowledgements and the next read: one round trip.
            batch = try await reader.read(waitingAtMost: wait, after: acknowledger.commands)
            acknowledger.forgetAll()
            stats.recordRedisAnswered()
            try await processReadingAhead(batch)
            return
        } else {
            try await acknowledger.flush()
        }
        guard !batch.isEmpty else { return }
        try await process(batch)
    }

    /// Handles new entries. A full batch means more are waiting: then the next batch's read goes
    /// out, with the acknowledgements so far, before this batch is handled, and Redis prepares it
    /// meanwhile (``RedisConnection/sendAhead(_:thenRecording:)``); and the read after that goes
    /// out as soon as that answer is in, before it is decoded. So Redis works while this consumer
    /// decodes and handles, instead of the two taking turns. Stops reading ahead at a batch that is
    /// not full, when the consumer pauses or shuts down (the batches in hand are still handled or
    /// held), and when claiming or a retry is due.
    private mutating func processReadingAhead(_ first: [Attempt]) async throws {
        var batch = first
        // The acknowledgements that went out with the read in flight; nil when none is.
        var inFlight: [String: [String]]? = batch.count >= reader.batchSize ? try await sendRead() : nil
        while true {
            if pause.isPaused {
                pause.holdAlso(batch)  // read ahead before the pause began: handled in the pause's next round
            } else if !batch.isEmpty {
                // If handling throws, the answer stays owed and is dropped by the next read sent
                // ahead: its entries stay pending here and are claimed again later.
                try await process(batch)
            }
            guard let sent = inFlight else { return }
            let answer: RecordedReply
            do {
                answer = try await reader.receive()
            } catch {
                acknowledger.restore(sent)  // acknowledging twice is harmless; never acknowledging is not
                throw error
            }
            stats.recordRedisAnswered()
            // COUNT applies to each stream: a read of several can bring more than one batch size.
            inFlight = answer.entryCount >= reader.batchSize ? try await sendRead() : nil
            batch = reader.attempts(in: answer)
        }
    }

    /// Sends the next read ahead with what is waiting to be acknowledged, unless this consumer
    /// should not read ahead now; returns the acknowledgements sent, nil when nothing went.
    private mutating func sendRead() async throws -> [String: [String]]? {
        guard !pause.isPaused, !Task.isShuttingDownGracefully, !Task.isCancelled, !isOtherWorkDue else { return nil }
        let sent = acknowledger.waiting
        acknowledger.forgetAll()
        do {
            try await reader.send(after: acknowledger.commands(for: sent))
        } catch {
            acknowledger.restore(sent)
            throw error
        }
        return sent
    }

    /// Whether the claimer's scan or a retry is due, which reading ahead must not put off.
    private var isOtherWorkDue: Bool {
        let now = ContinuousClock.now
        return now >= claimer.nextScan || retries.nextDue.map { now >= $0 } ?? false
    }

    private mutating func process(_ batch: [Attempt]) async throws {
        var deadLetters: [DeadLetterer.Item] = []
        var held: [Attempt] = []
        var infrastructureError: (any Error)?
        var handled: [(type: String?, occurredAt: String?)] = []
        for (attempt, disposition, error) in await dispatcher.handle(batch) {
            switch disposition {
            case .pause:
                held.append(attempt)
                infrastructureError = error
            case .acknowledge:
                acknowledger.add(attempt.entry)
                let entry = attempt.entry
                if entry.fieldList != nil { handled.append((entry.value(of: "type"), entry.value(of: "occurredAt"))) }
            case .retry:
                stats.recordFailed()
                retries.schedule(attempt, now: .now)
                logger.warning(
                    "handler failed, will retry",
                    metadata: [
                        "stream": "\(attempt.entry.stream)", "entry": "\(attempt.entry.id)", "attempt": "\(attempt.number)",
                        "error": "\(error.map { "\($0)" } ?? "")", "request_id": "\(attempt.entry.value(of: "requestId") ?? "")",
                    ])
            case .deadLetter(let reason):
                deadLetters.append(DeadLetterer.Item(attempt: attempt, reason: reason))
            }
        }
        stats.recordHandled(handled)
        if held.isEmpty, pause.isPaused {
            logger.info("consumer resumed: the infrastructure answers again", metadata: ["paused": "\(pause.pausedFor)"])
            stats.recordResumed()
        }
        pause.hold(held, now: .now)
        if let infrastructureError {
            let reason = "\(infrastructureError)"
            if pause.isFirstRound {
                logger.warning(
                    "consumer paused: the infrastructure failed, not the events; holding them without counting attempts",
                    metadata: ["entries": "\(held.count)", "error": "\(reason)"])
            }
            stats.recordPaused(held.count, reason: reason)
        }
        try await deadLetterer.deadLetter(deadLetters)
        stats.recordDeadLettered(deadLetters.count)
        for item in deadLetters {
            logger.error(
                "entry moved to the dead-letter stream",
                metadata: [
                    "stream": "\(item.attempt.entry.stream)", "entry": "\(item.attempt.entry.id)",
                    "attempts": "\(item.attempt.number)", "error": "\(item.reason)",
                    "request_id": "\(item.attempt.entry.value(of: "requestId") ?? "")",
                ])
        }
    }
}
