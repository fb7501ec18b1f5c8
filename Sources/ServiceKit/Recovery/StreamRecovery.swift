import Bus
import GRDB
import Logging
import Redis

/// Brings a service's database up to date with the streams before the service serves anything:
/// the catch-up of a database restored from a backup (or whose disk was lost with the changes
/// since), done at every start and cheap when there is nothing to catch up.
///
/// 1. **Its own stream** (Rental's, Delivery's) holds every change the service published. Entries
///    after the last one the database's outbox published are either its own rows, which went out
///    but were not marked (they are marked now, not sent again), or changes it lacks: those are
///    applied as facts (``RecoveryRoutes``) and kept as published rows.
/// 2. **The streams it consumes** hold what its group acknowledged. Entries after the group's
///    position in the database (``ConsumerPositions``) that the group acknowledged (delivered and
///    not pending) but the inbox lacks mean the database is older than the group: then every event
///    from a `lookback` before that position up to the group's last delivered one goes through the
///    service's routes, whose inbox skips what the database had. The lookback covers the entries
///    in flight when the backup was taken: delivered before, acknowledged after.
/// 3. **Lost history**: if entries the database lacks were trimmed from a stream, or its events
///    cannot be applied, the service refuses to start unless `acceptLoss`, and says what is gone.
///
/// All changes are one transaction: a recovery that fails leaves the database as it was.
///
/// Not done: comparing the database with Redis by content. A Redis that lost data is the relay's
/// business (it publishes again what Redis lacks); the recovery only looks at what Redis has after
/// the database's marks.
public struct StreamRecovery: Sendable {
    public struct Configuration: Sendable {
        public var acceptLoss = false
        /// How far before the group's position (in entry time) consumed streams are read again.
        public var lookback: Duration = .seconds(600)
        public var pageSize = 1000
        public init(acceptLoss: Bool = false) { self.acceptLoss = acceptLoss }
    }

    let service: String
    let routes: RecoveryRoutes
    let database: any DatabaseWriter
    let client: RedisClient
    let configuration: Configuration

    public init(service: String, routes: RecoveryRoutes, database: any DatabaseWriter, client: RedisClient, configuration: Configuration) {
        self.service = service
        self.routes = routes
        self.database = database
        self.client = client
        self.configuration = configuration
    }

    /// One stream entry read back as an event.
    struct Entry: Sendable {
        var id: StreamID
        var stream: String
        var envelope: EventEnvelope
    }

    public func run() async throws -> RecoveryReport {
        let started = ContinuousClock.now
        var report = RecoveryReport(service: service)
        let group = routes.consumed.group
        let (ownMark, positions, floors, predatesMarks) = try await database.read { db in
            (
                try routes.ownStream.flatMap { try RecoveryMarks.lastPublished(on: $0, in: db) }, try ConsumerPositions.of(group, in: db),
                try ConsumerPositions.of(RecoveryMarks.publishedFloor, in: db), try RecoveryMarks.predatesMarks(db)
            )
        }
        // A database in use before it had marks (upgraded to `bus-v5`), with no mark on a stream, is
        // taken as current once, and marked where the stream and the group now are: starting it as
        // "older than everything" would re-apply events older than its inbox remembers, and refuse
        // a trimmed stream. (A backup taken before the upgrade therefore cannot catch up.)
        var seeds: [(handler: String, stream: String, id: StreamID)] = []
        var own = OwnCatchUp()
        if let stream = routes.ownStream {
            var mark = ownMark
            if let floor = floors[stream], floor > (mark?.id ?? .zero) { mark = (mark?.sequence ?? 0, floor) }
            if mark == nil, predatesMarks {
                if let last = try await client.streamInfo(stream)?.lastGeneratedID {
                    seeds.append((RecoveryMarks.publishedFloor, stream, last))
                }
            } else {
                own = try await catchUp(own: stream, after: mark, report: &report)
            }
        }
        var consumed: [ConsumedCatchUp] = []
        for stream in routes.consumedStreams {
            if positions[stream] == nil, predatesMarks {
                let delivered = try await client.groups(of: stream).first { $0.name == group }?.lastDeliveredID
                if let delivered { seeds.append((group, stream, delivered)) }
                continue
            }
            if let catchUp = try await catchUp(consumed: stream, position: positions[stream], force: !own.apply.isEmpty, report: &report) {
                consumed.append(catchUp)
            }
        }
        if predatesMarks {
            try await database.write { [seeds] db in
                for seed in seeds { try ConsumerPositions.advance(seed.handler, to: [(seed.stream, seed.id.description)], in: db) }
                try RecoveryMarks.markedAsCurrent(db)
            }
        }
        report.seconds = (ContinuousClock.now - started) / .seconds(1)
        guard !own.apply.isEmpty || !own.markPublished.isEmpty || consumed.contains(where: { !$0.apply.isEmpty }) else {
            return report
        }
        if !report.losses.isEmpty, !configuration.acceptLoss { throw RecoveryError.historyGone(report.losses) }
        report = try await apply(own: own, consumed: consumed, report: report)
        report.seconds = (ContinuousClock.now - started) / .seconds(1)
        return report
    }

    // MARK: Own stream

    struct OwnCatchUp {
        var apply: [Entry] = []
        var markPublished: [(sequence: Int64, id: StreamID)] = []
        /// The consumed events the stream's entries after the mark answered.
        var answered: Set<String> = []
    }

    private func catchUp(own stream: String, after mark: (sequence: Int64, id: StreamID)?, report: inout RecoveryReport) async throws
        -> OwnCatchUp
    {
        let after = mark?.id ?? .zero
        // No stream, or nothing after the mark: nothing to catch up (what Redis lost, the relay sends again).
        guard let info = try await client.streamInfo(stream), info.lastGeneratedID > after else { return OwnCatchUp() }
        if try await trimmed(stream, info, after: mark?.id) {
            report.losses.append(
                "\(stream) no longer holds its entries from \(after) to \(info.firstEntryID?.description ?? "its end"): "
                    + "at most \(info.entriesAdded - info.length) of this service's changes after the backup are gone")
        }
        let entries = try await read(stream, from: "(" + after.description, to: "+", report: &report)
        let rows = try await database.read { db in try RecoveryMarks.outboxRows(after: mark?.sequence, in: db) }
        var catchUp = OwnCatchUp()
        var seen: Set<String> = []
        for entry in entries where seen.insert(entry.envelope.id).inserted {
            if !entry.envelope.causationId.isEmpty { catchUp.answered.insert(entry.envelope.causationId) }
            guard let row = rows[entry.envelope.id] else {
                catchUp.apply.append(entry)
                continue
            }
            if !row.published { catchUp.markPublished.append((row.sequence, entry.id)) }
        }
        return catchUp
    }

    // MARK: Consumed streams

    struct ConsumedCatchUp {
        var stream: String
        /// Routed events from the lookback on, up to the group's last delivered entry, in stream order.
        var read: [Entry]
        /// Those the inbox lacks: what the recovery applies.
        var apply: [Entry]
    }

    private func catchUp(consumed stream: String, position: StreamID?, force: Bool, report: inout RecoveryReport) async throws
        -> ConsumedCatchUp?
    {
        let group = routes.consumed.group
        guard let info = try await client.streamInfo(stream),
            let delivered = try await client.groups(of: stream).first(where: { $0.name == group })?.lastDeliveredID,
            delivered > (position ?? .zero)
        else { return nil }
        let routed = { (entry: Entry) in routes.consumed.handles(entry.envelope.type) }
        // Is the database older than the group? Only if the group acknowledged something after its position that the inbox lacks.
        let after = position.map { "(" + $0.description } ?? "-"
        let recent = try await read(stream, from: after, to: delivered.description, report: &report).filter(routed)
        let pending = Set(
            try await client.pending(on: stream, group: group, from: after, to: delivered.description, count: 100_000).map(\.id))
        let processed = try await database.read { [recent] db in try RecoveryMarks.processed(recent.map(\.envelope.id), by: group, in: db) }
        let missing = recent.filter { !processed.contains($0.envelope.id) }
        guard force || missing.contains(where: { !pending.contains($0.id.description) }) else { return nil }
        if try await trimmed(stream, info, after: position) {
            report.losses.append(
                "\(stream) no longer holds its entries from \(position?.description ?? "its start") to "
                    + "\(info.firstEntryID?.description ?? "its end"): at most \(info.entriesAdded - info.length) events "
                    + "the \(group) group handled after the backup are gone")
        }
        var earlier: [Entry] = []
        if let position {
            let lookback = UInt64(max(0, configuration.lookback.milliseconds))
            let start = StreamID(milliseconds: position.milliseconds > lookback ? position.milliseconds - lookback : 0)
            earlier = try await read(stream, from: start.description, to: position.description, report: &report).filter(routed)
        }
        let known = processed.union(
            try await database.read { [earlier] db in try RecoveryMarks.processed(earlier.map(\.envelope.id), by: group, in: db) })
        let all = earlier + recent
        var seen: Set<String> = []
        let apply = all.filter { !known.contains($0.envelope.id) && seen.insert($0.envelope.id).inserted }
        return ConsumedCatchUp(stream: stream, read: all, apply: apply)
    }

    // MARK: Applying

    private func apply(own: OwnCatchUp, consumed: [ConsumedCatchUp], report: RecoveryReport) async throws -> RecoveryReport {
        var causes: [String: EventEnvelope] = [:]
        for catchUp in consumed { for entry in catchUp.read { causes[entry.envelope.id] = entry.envelope } }
        let (routes, acceptLoss, group) = (self.routes, configuration.acceptLoss, routes.consumed.group)
        return try await database.write { [causes] db in
            var report = report
            let before = try RecoveryMarks.lastSequence(in: db)
            try RecoveryMarks.markPublished(own.markPublished, in: db)
            report.markedPublished = own.markPublished.count
            func attempt(_ entry: Entry, _ change: () throws -> Void) throws -> Bool {
                do {
                    try db.inSavepoint {
                        try change()
                        return .commit
                    }
                    return true
                } catch {
                    guard acceptLoss else {
                        throw RecoveryError.cannotApply(event: entry.envelope.id, type: entry.envelope.type, reason: "\(error)")
                    }
                    report.failureCount += 1
                    if report.failures.count < 3 {
                        report.failures.append("\(entry.envelope.type) \(entry.envelope.id) of \(entry.stream) (\(error))")
                    }
                    return false
                }
            }
            for entry in own.apply {
                let applied = try attempt(entry) {
                    try routes.applyOwn(entry.envelope, cause: causes[entry.envelope.causationId], in: db)
                    try RecoveryMarks.recordPublished(entry.envelope, on: entry.stream, as: entry.id, in: db)
                }
                guard applied else { continue }
                report.ownApplied += 1
                if entry.envelope.causationId.isEmpty { report.requestsReplayed += 1 }
            }
            for catchUp in consumed {
                for entry in catchUp.apply where try attempt(entry, { try routes.consumed.apply(entry.envelope, in: db) }) {
                    report.consumedApplied[catchUp.stream, default: 0] += 1
                }
                try ConsumerPositions.advance(group, to: catchUp.read.map { ($0.stream, $0.id.description) }, in: db)
            }
            report.answersDropped = try RecoveryMarks.dropAnswers(to: own.answered, after: before, in: db)
            try routes.finish(db)
            return report
        }
    }

    // MARK: Reading

    /// Whether entries after `mark` may have been trimmed from the stream: the mark's own entry is
    /// gone and the stream now starts later (or, with no mark, the stream no longer starts with its
    /// first entry). Redis 7.0 keeps no count of trimmed entries (`max-deleted-entry-id` counts only
    /// `XDEL`), so whether any entry lay between the mark and the new start cannot be told: the
    /// answer errs on the side of "lost".
    private func trimmed(_ stream: String, _ info: StreamInfo, after mark: StreamID?) async throws -> Bool {
        guard let mark else { return info.entriesAdded > info.length }
        if let first = info.firstEntryID, first <= mark { return false }
        let reply = try await client.command(["XRANGE", stream, mark.description, mark.description]).orThrow()
        return (reply.array ?? []).isEmpty
    }

    /// The entries of `stream` from `start` to `end` (XRANGE bounds), page by page, as events;
    /// an entry that is not one is left to the consumer (it dead-letters it).
    private func read(_ stream: String, from start: String, to end: String, report: inout RecoveryReport) async throws -> [Entry] {
        var entries: [Entry] = []
        var start = start
        while true {
            let reply = try await client.command(["XRANGE", stream, start, end, "COUNT", String(configuration.pageSize)]).orThrow()
            let page = StreamEntry.parseList(stream: stream, reply)
            report.entriesRead += page.count
            for entry in page {
                guard let id = StreamID(entry.id), let fields = entry.fieldList, let envelope = try? EventEnvelope(fieldList: fields) else {
                    continue
                }
                entries.append(Entry(id: id, stream: stream, envelope: envelope))
            }
            guard page.count == configuration.pageSize, let last = page.last else { return entries }
            start = "(" + last.id
        }
    }
}
