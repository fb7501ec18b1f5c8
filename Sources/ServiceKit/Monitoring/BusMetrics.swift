import Bus
import Foundation
import Redis

/// The Bus's figures that are read at scrape time (``ScrapedGauges``), and their metric names. The
/// alert rules and the dashboard are checked against what the processes really export, scraped
/// (`ops/monitoring/monitoring_test.py`), not against this list.
public enum BusMetrics {
    /// Read by the gateway, for every stream and group (``GroupLag``).
    public static let groupLag = "bus_group_lag_entries"
    public static let groupPending = "bus_group_pending_entries"
    public static let groupFinished = "bus_group_finished_entries"
    public static let groupOldestAge = "bus_group_oldest_unfinished_age_seconds"
    public static let deadLetters = "bus_dead_letter_entries"
    /// Per stream, since the stream began: entries the hard cap removed, read or not, and events
    /// relays set aside as ones that can never be published (counts kept in Redis by every process).
    public static let capTrimmed = "bus_stream_cap_trimmed_entries"
    public static let setAside = "bus_outbox_set_aside_events"
    /// 1 when the last reading of the streams succeeded, 0 when Redis did not answer it.
    public static let redisUp = "bus_redis_up"
    /// Read by each process with an outbox, from its SQLite.
    public static let outboxBacklog = "bus_outbox_backlog_entries"
    /// Seconds since the service's last periodic backup (``PeriodicBackup``), and how often it takes one.
    public static let backupAge = "backup_age_seconds"
    public static let backupInterval = "backup_interval_seconds"
    public static let outboxOldestAge = "bus_outbox_oldest_unpublished_age_seconds"
    public static let outboxSetAside = "bus_outbox_set_aside_entries"
    /// Set by each process with a consumer: when its loop last went round (a loop that waits for
    /// entries goes round every few seconds; one stuck in a handler does not).
    public static let consumerLastProgress = "bus_consumer_last_progress_timestamp_seconds"

    static let streamNames: Set<String> = [
        groupLag, groupPending, groupFinished, groupOldestAge, deadLetters, capTrimmed, setAside, redisUp,
    ]

    /// Reads every group's lag and every dead-letter stream into `gauges`; on a failure, only
    /// `bus_redis_up` 0 remains (a stale lag would look like progress stopped, or not).
    public static func readStreams(client: RedisClient, into gauges: ScrapedGauges) async {
        guard let reading = try? await GroupLag.read(client: client) else {
            gauges.replace(streamNames, with: [.init(redisUp, 0)])
            return
        }
        var samples: [ScrapedGauges.Sample] = [.init(redisUp, 1)]
        for lag in reading.groups {
            let labels = [("stream", lag.stream), ("group", lag.group)]
            if let undelivered = lag.undelivered { samples.append(.init(groupLag, labels, Double(undelivered))) }
            if let finished = lag.finished { samples.append(.init(groupFinished, labels, Double(finished))) }
            samples.append(.init(groupPending, labels, Double(lag.pending)))
            samples.append(.init(groupOldestAge, labels, lag.oldestUnfinishedAge))
        }
        // Every group on every stream it reads has a count, 0 while it has no dead-letter stream: a
        // dashboard shows the zero, and a rule sees the first one arrive.
        var dead = Dictionary(reading.groups.map { ("\($0.stream)|\($0.group)", (stream: $0.stream, group: $0.group, length: 0)) }) {
            a, _ in a
        }
        for deadLetter in reading.deadLetters { dead["\(deadLetter.stream)|\(deadLetter.group)"] = deadLetter }
        for deadLetter in dead.values {
            samples.append(.init(deadLetters, [("stream", deadLetter.stream), ("group", deadLetter.group)], Double(deadLetter.length)))
        }
        for (stream, count) in reading.capTrimmed { samples.append(.init(capTrimmed, [("stream", stream)], Double(count))) }
        for (stream, count) in reading.setAside { samples.append(.init(setAside, [("stream", stream)], Double(count))) }
        gauges.replace(streamNames, with: samples)
    }

    /// Reads this process's outbox and consumer into `gauges`.
    static func readProcess(_ health: HealthSources, into gauges: ScrapedGauges, now: Date = Date()) async {
        var samples: [ScrapedGauges.Sample] = []
        if let relay = health.relay, let counts = try? await relay.counts() {
            let oldest = counts.oldestUnpublished.map { max(0, now.timeIntervalSince1970 - Double($0) / 1000) } ?? 0
            samples += [
                .init(outboxBacklog, Double(counts.backlog)), .init(outboxOldestAge, oldest),
                .init(outboxSetAside, Double(counts.setAside)),
            ]
        }
        if let stats = health.stats {
            let last = now.timeIntervalSince1970 - stats.progress.idle() / .seconds(1)
            samples.append(.init(consumerLastProgress, [("group", stats.group)], last))
        }
        if let backup = health.backup {
            samples.append(.init(backupInterval, backup.configuration.interval / .seconds(1)))
            samples.append(.init(backupAge, max(0, now.timeIntervalSince(backup.ageCountsFrom))))
        }
        gauges.replace([outboxBacklog, outboxOldestAge, outboxSetAside, consumerLastProgress, backupAge, backupInterval], with: samples)
    }
}
