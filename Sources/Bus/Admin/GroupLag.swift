import Foundation
import Redis

/// How far behind each consumer group is, read from Redis when asked (a Prometheus scrape): what
/// alerts and autoscalers need, in entries and in seconds, as kafka-lag-exporter gives for Kafka.
///
/// Lag in entries says how much is left; lag in seconds says how late the effects are, which is
/// what a customer notices and what one threshold can cover for streams of any rate. The age is
/// that of the oldest entry the group still has to finish: the first one not yet delivered, or the
/// oldest delivered and not yet acknowledged (pending), whichever is older, by the time in its entry
/// id (when Redis added it). Zero when the group has finished everything.
///
/// Read by one designated process, the gateway, because a consumer that is down cannot report that
/// it is behind; every process that runs a consumer reports its own progress instead
/// (`bus_consumer_last_progress_timestamp_seconds`).
public struct GroupLag: Sendable, Equatable {
    public var stream: String
    public var group: String
    /// Entries not yet delivered to the group; nil when Redis cannot tell (after deletions).
    public var undelivered: Int?
    /// Entries delivered and not yet acknowledged.
    public var pending: Int
    /// Entries the group has finished: delivered minus pending (nil when Redis cannot tell). It
    /// grows as the group makes progress, and stands still when it makes none.
    public var finished: Int?
    /// Seconds since Redis added the oldest entry the group has not finished; 0 for none.
    public var oldestUnfinishedAge: Double

    /// What one reading found: each group's lag, each dead-letter stream's length, and per stream
    /// the entries the hard cap removed and the events relays set aside (0 for none, so that a
    /// rule sees the first one as an increase).
    public struct Reading: Sendable {
        public var groups: [GroupLag]
        public var deadLetters: [(stream: String, group: String, length: Int)]
        public var capTrimmed: [String: Int]
        public var setAside: [String: Int]
    }

    /// Delivered minus pending. Redis gives `entries-read` only when it can count it (not for a
    /// group created on an empty stream that has read nothing yet), and `lag` = added − read when it
    /// can, so read is taken from whichever it gives.
    static func finished(_ group: GroupInfo, entriesAdded: Int?) -> Int? {
        if let lag = group.lag, let entriesAdded { return entriesAdded - lag - group.pending }
        return group.entriesRead.map { $0 - group.pending }
    }

    /// Reads every stream (`SCAN … TYPE stream`): per stream one pipeline of `XINFO STREAM` and `XINFO GROUPS`, then
    /// per group `XPENDING` (its summary: the oldest pending id) and `XRANGE` of the first entry
    /// after its last delivered one. Two round trips per stream, a handful of commands each.
    public static func read(client: RedisClient, now: Date = Date()) async throws -> Reading {
        let names = try await client.scanKeys(type: "stream").sorted()
        let (capTrimmed, setAside) = try await StreamsReport.lossCounts(client: client)
        var reading = Reading(groups: [], deadLetters: [], capTrimmed: [:], setAside: [:])
        let nowMilliseconds = now.timeIntervalSince1970 * 1000
        for name in names {
            if let source = DeadLetter.source(of: name) {
                let length = try await client.command(["XLEN", name]).orThrow().int ?? 0
                reading.deadLetters.append((source.stream, source.group, length))
                continue
            }
            reading.capTrimmed[name] = capTrimmed[name] ?? 0
            reading.setAside[name] = setAside[name] ?? 0
            let about = try await client.pipeline([["XINFO", "STREAM", name], ["XINFO", "GROUPS", name]])
            let added = StreamInfo(try about[0].orThrow())?.entriesAdded
            let infos = GroupInfo.parseList(try about[1].orThrow())
            guard !infos.isEmpty else { continue }
            let commands = infos.flatMap { info in
                [["XPENDING", name, info.name], ["XRANGE", name, "(" + info.lastDeliveredID.description, "+", "COUNT", "1"]]
            }
            let replies = try await client.pipeline(commands)
            for (index, info) in infos.enumerated() {
                let oldestPending = try replies[2 * index].orThrow().array?.dropFirst().first?.string.flatMap(StreamID.init)
                let firstUndelivered = try replies[2 * index + 1].orThrow().array?.first?.array?.first?.string.flatMap(StreamID.init)
                let oldest = [oldestPending, firstUndelivered].compactMap { $0 }.map(\.milliseconds).min()
                let age = oldest.map { max(0, nowMilliseconds - Double($0)) / 1000 } ?? 0
                reading.groups.append(
                    GroupLag(
                        stream: name, group: info.name, undelivered: info.lag, pending: info.pending,
                        finished: finished(info, entriesAdded: added), oldestUnfinishedAge: age))
            }
        }
        return reading
    }
}
