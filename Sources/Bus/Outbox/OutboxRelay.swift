import Foundation
import GRDB
import Logging
import Metrics
import Primitives
import Redis
import ServiceLifecycle
import Tracing

/// Moves outbox rows to their streams, in insertion order, and marks them sent.
///
/// Rows committed in its own process are handed to it as they commit, already claimed for it in
/// their insert (``OutboxHandoff``), and it marks them published a batch at a time
/// (``PublishedMarks``): no transaction of the relay's own sits between two of the service's commits.
/// Every `pollInterval` it also claims rows from the table: those that other processes sharing the
/// database left behind (a crashed relay's, for instance). Several relays on one database do not
/// publish the same rows: each claims a batch for `claimLease` first. A relay that dies between
/// publishing and marking re-publishes those rows after its lease runs out: delivery is
/// at-least-once and consumers de-duplicate on the event id.
///
/// Redis can come back without entries it had acknowledged: restarted without persistence, or with an
/// AOF that lost its last second in an OS crash. Published rows are kept (`retention`, 7 days) with
/// their entry ids; before publishing on a new connection, and every `lossCheckInterval`, the relay
/// compares each stream with what it published (``LossCheck``) and publishes again exactly the
/// events the stream lacks, however long Redis was away. It needs no `INFO`, only `XINFO STREAM`
/// and `XRANGE`.
///
/// A row that can never go out (larger than `maxEventBytes`, or refused `setAsideAfter` times with
/// an error reply such as `NOPERM`) is set aside with its error, counted, and the rows after it go on.
///
/// Where the rows come from (``OutboxHandoff``): two states, the table always the truth.
///
/// ```
///                  a claim that finds less than a batch
///                  (resumed on the writer, as it commits)
///   ┌───────────────────────┐ ─────────────────────────▶ ┌───────────────────────┐
///   │ SUSPENDED             │                            │ ACTIVE                │
///   │ rows claimed from the │                            │ rows handed over as   │
///   │ table, in order       │ ◀───────────────────────── │ they commit, in order │
///   └───────────────────────┘  start, queue overflow     └───────────────────────┘
///                              (Redis away), a batch not       │ and, every pollInterval,
///                              wholly out, rows re-opened      │ a claim from the table
///                              by a loss check                 ▼ (other processes' rows)
/// ```
///
/// One row's life: inserted, claimed for this relay in the same transaction → published (`XADD`) →
/// marked published (within `markInterval`; until then its claim keeps other relays off) → pruned
/// after `retention`. A loss check that finds the row's entry gone re-opens it (unpublished again);
/// an error reply counts a failure, and `setAsideAfter` of them set it aside. The loop's clocks
/// (poll, prune, and the sleep until the next poll, loss check or mark) are ``RelaySchedule``.
///
/// The relay's own bookkeeping (claims, marks) commits with `synchronous = NORMAL`, set and restored
/// around each of its transactions on the shared writer (``OutboxTable``): a lost mark only means a
/// row goes out twice, which consumers absorb, and the service's next commit syncs it anyway.
public struct OutboxRelay: Service {
    public struct Configuration: Sendable {
        public var batchSize = 500
        public var pollInterval: Duration = .seconds(1)
        /// How long a relay's claim on a batch keeps other relays off it. Publishing a batch takes
        /// milliseconds; the lease only matters when a relay dies holding rows, and then it is how
        /// long those rows wait for another relay (a restarted one under the same name takes them
        /// at once). An expired lease can at worst send a batch twice, which consumers absorb.
        public var claimLease: Duration = .seconds(2)
        /// How long rows that went out may wait to be marked published, so that one transaction
        /// marks many (``PublishedMarks``); far shorter than `claimLease`, which keeps them meanwhile.
        public var markInterval: Duration = .milliseconds(50)
        /// How long published rows are kept, to publish them again should Redis lose them.
        public var retention: Duration = .seconds(7 * 24 * 3600)
        public var pruneInterval: Duration = .seconds(60)
        /// How often the relay compares the streams with what it published.
        public var lossCheckInterval: Duration = .seconds(1)
        /// Larger events are set aside at once: Redis would refuse them or choke on them.
        public var maxEventBytes = 1 << 20
        /// Error replies after which a row is set aside.
        public var setAsideAfter = 3
        public init() {}
    }

    private let table: OutboxTable
    private let outbox: Outbox
    private let publisher: StreamPublisher
    private let name: String
    private let configuration: Configuration
    private let logger: Logger
    /// When the relay's loop last went round, for `/live`.
    public let progress = LoopProgress()
    private let publishedCounter = Counter(label: "bus_outbox_published_total")
    private let republishedCounter = Counter(label: "bus_outbox_republished_total")

    public init(
        database: any DatabaseWriter, outbox: Outbox, publisher: StreamPublisher, name: String,
        configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.table = OutboxTable(database: database)
        self.outbox = outbox
        self.publisher = publisher
        self.name = name
        self.configuration = configuration
        self.logger = logger
        outbox.handoff.attach(relay: name, lease: configuration.claimLease)
        database.add(transactionObserver: outbox.handoff, extent: .observerLifetime)
    }

    private var client: RedisClient { publisher.client }

    public func run() async throws {
        logger.info("outbox relay started", metadata: ["relay": "\(name)"])
        var schedule = RelaySchedule(pollInterval: configuration.pollInterval, pruneInterval: configuration.pruneInterval, now: .now)
        var check = LossCheck()
        var marks = PublishedMarks()
        // On the connection's thread: each publish runs inline, not a hop there and back.
        await withTaskExecutorPreference(client.executor) {
            await withGracefulShutdownHandler {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    progress.turned()
                    do {
                        if check.isDue(now: .now) {
                            try await mark(&marks)  // the check reads what the table says went out
                            try await checkForLoss(&check)
                        }
                        let polling = schedule.takePoll(now: .now, handoffActive: outbox.handoff.isActive)
                        let published = try await publishBatch(&check, &marks, claimingFromTable: polling)
                        if marks.isDue(now: .now, batchSize: configuration.batchSize) { try await mark(&marks) }
                        if schedule.takePrune(now: .now) { try await prune() }
                        if published < configuration.batchSize {
                            let deadline = schedule.sleepUntil(lossCheck: check.nextCheck, marksDue: marks.due)
                            await outbox.signal.wait(timeout: max(.zero, deadline - .now))
                        }
                    } catch RedisError.connectionChanged {
                        check.verifiedSerial = nil  // check the new connection's Redis at once, before publishing on it
                        continue
                    } catch let error as RedisError where error.isConnectionProblem {
                        continue  // RedisClient waits its backoff before the next attempt.
                    } catch is CancellationError {
                        break
                    } catch {
                        logger.error("outbox relay failed, retrying", metadata: ["error": "\(error)"])
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            } onGracefulShutdown: {
                outbox.signal.wake()
            }
            // Whatever was committed before shutdown goes out now if Redis is there; else the next start sends it.
            if check.verifiedSerial != nil { _ = try? await publishBatch(&check, &marks, claimingFromTable: !outbox.handoff.isActive) }
            try? await mark(&marks)
        }
        logger.info("outbox relay stopped", metadata: ["relay": "\(name)"])
    }

    /// Publishes and records one batch: the rows handed over as they committed, else (if asked to)
    /// rows claimed from the table. Returns how many rows it took.
    @discardableResult
    private func publishBatch(_ check: inout LossCheck, _ marks: inout PublishedMarks, claimingFromTable: Bool) async throws -> Int {
        var rows = outbox.handoff.take(configuration.batchSize)
        if rows.isEmpty && claimingFromTable {
            try await mark(&marks)  // the claim takes this relay's own rows too: the published ones must say so
            let now = Timestamp.milliseconds()
            rows = try await table.claim(
                configuration.batchSize, for: name, now: now, leaseEnd: now + configuration.claimLease.milliseconds,
                handoff: outbox.handoff)
        }
        guard !rows.isEmpty else { return 0 }
        let (oversized, sendable) = (
            rows.filter { $0.size > configuration.maxEventBytes }, rows.filter { $0.size <= configuration.maxEventBytes }
        )
        let results: [Result<String, RedisError>]
        let events = sendable.map(\.event)
        let send = MessageTrace.startSend(events.map { ($0.stream, $0.envelope) })
        defer { send?.end() }
        do {
            results = try await publisher.publishEach(events, onConnection: check.verifiedSerial)
        } catch {
            send?.recordError(error)
            outbox.handoff.suspend()  // the batch is still claimed in the table: it goes out from there, in order
            throw error
        }
        var published: [(Int64, StreamID)] = []
        var failed = oversized.map { row in
            (row.sequence, "the event takes \(row.size) bytes, more than the \(configuration.maxEventBytes) allowed", 1)
        }
        var refusedForNow: [Int64] = []
        for (row, result) in zip(sendable, results) {
            switch result {
            case .success(let text):
                guard let id = StreamID(text) else {
                    failed.append((row.sequence, "XADD gave an entry id that is not one: \(text)", configuration.setAsideAfter))
                    continue
                }
                published.append((row.sequence, id))
            case .failure(let error) where error.isTemporaryRefusal: refusedForNow.append(row.sequence)
            case .failure(let error): failed.append((row.sequence, "\(error)", configuration.setAsideAfter))
            }
        }
        var setAside: [Int64] = []
        if failed.isEmpty && refusedForNow.isEmpty {
            marks.add(published, within: configuration.markInterval)
        } else {
            setAside = try await table.settle(published: published, failed: failed, now: Timestamp.milliseconds())
            try await table.release(refusedForNow)
        }
        publishedCounter.increment(by: published.count)
        let streams = Dictionary(uniqueKeysWithValues: rows.map { ($0.sequence, $0.stream) })
        check.recordPublished(published.map { (streams[$0.0] ?? "", $0.1) })
        if !setAside.isEmpty { await report(setAside: setAside, rows: rows) }
        if !refusedForNow.isEmpty || !failed.isEmpty {
            outbox.handoff.suspend()  // the rows after them wait in the table, in order
            try await Task.sleep(for: .milliseconds(200))
        }
        return rows.count
    }

    /// Marks the rows that went out as published, in one transaction; they stay waiting if it fails.
    private func mark(_ marks: inout PublishedMarks) async throws {
        guard !marks.isEmpty else { return }
        let rows = marks.take()
        do {
            _ = try await table.settle(published: rows, failed: [], now: Timestamp.milliseconds())
        } catch {
            marks.add(rows, within: configuration.markInterval)
            throw error
        }
    }

    /// Compares every stream this outbox published to with what it published, on one connection;
    /// re-opens the rows whose events a stream lacks.
    private func checkForLoss(_ check: inout LossCheck) async throws {
        if check.marks.isEmpty {
            for stream in try await table.publishedStreams() {
                guard let last = try await table.lastPublishedID(on: stream) else { continue }
                check.marks[stream] = LossCheck.Mark(lastID: last, entriesAdded: nil)
            }
        }
        let (serial, states) = try await LossCheck.read(check.marks, on: client)
        for (stream, info, lastStillThere) in states {
            guard let mark = check.marks[stream], LossCheck.lostEntries(info, mark: mark, lastStillThere: lastStillThere) else {
                check.marks[stream]?.entriesAdded = info?.entriesAdded
                continue
            }
            let rows = try await table.published(on: stream)
            let missing = try await LossCheck.missing(rows, in: info) { id in
                !(try await client.command(["XRANGE", stream, id.description, id.description]).orThrow().array ?? []).isEmpty
            }
            try await table.reopen(missing)
            outbox.handoff.suspend()  // re-opened rows are older than those being handed over
            republishedCounter.increment(by: missing.count)
            logger.warning(
                "redis lost entries of a stream: publishing them again",
                metadata: ["stream": "\(stream)", "events": "\(missing.count)", "stream-exists": "\(info != nil)"])
            let kept = Set(missing)
            let remaining = rows.filter { !kept.contains($0.sequence) }
            check.marks[stream] = remaining.last.map { LossCheck.Mark(lastID: $0.id, entriesAdded: info?.entriesAdded) }
        }
        check.verifiedSerial = serial
        check.nextCheck = .now + configuration.lossCheckInterval
    }

    private func report(setAside: [Int64], rows: [OutboxRecord]) async {
        let bySequence = Dictionary(uniqueKeysWithValues: rows.map { ($0.sequence, $0) })
        for sequence in setAside {
            guard let row = bySequence[sequence] else { continue }
            Counter(label: "bus_outbox_set_aside_total", dimensions: [("stream", row.stream)]).increment()
            _ = try? await client.command(["HINCRBY", Self.setAsideKey, row.stream, "1"])
            logger.error(
                "an outbox event can never be published: set aside, the events after it go on",
                metadata: ["stream": "\(row.stream)", "event": "\(row.eventId)", "type": "\(row.type)", "sequence": "\(sequence)"])
        }
    }

    /// The Redis hash that counts, per stream, the events relays set aside: `bookdelivery streams` shows it.
    public static let setAsideKey = "bus:outbox:set-aside"

    private func prune() async throws {
        try await table.prune(publishedBefore: Timestamp.milliseconds() - configuration.retention.milliseconds)
    }

    /// Events committed and not yet marked published (not on their stream yet, or gone out within the
    /// last `markInterval`), and events set aside: `/health` shows both.
    public func counts() async throws -> OutboxCounts {
        try await table.counts()
    }
}

// ServiceLifecycle names each service in its logs with "\(service)"; without this, that reflects every
// stored property: slow at start-up (a tenth of a service's start) and unreadable.
extension OutboxRelay: CustomStringConvertible {
    public var description: String { "OutboxRelay(\(name))" }
}
