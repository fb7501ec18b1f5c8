import Foundation
import Logging
import Metrics
import Primitives
import Redis
import ServiceLifecycle
import Synchronization

/// Trims the streams a service writes, never below what every group has acknowledged (Redis 7's
/// `MAXLEN`/`MINID` ignore consumer groups, so this works out the bound itself).
///
/// For each stream, every `interval`: the bound is the oldest entry any group still needs (its
/// oldest pending entry, else its last-delivered id), and no later than `minimumAge` ago;
/// `XTRIM MINID ~ bound LIMIT n` then removes at most the entries beyond the newest `minimumCount`.
/// Streams without groups (dead letters) keep their floor only. The hard cap comes last, loudly.
public final class StreamTrimmer: Service, Sendable {
    private let client: RedisClient
    private let streams: [String]
    private let policy: RetentionPolicy
    private let interval: Duration
    private let logger: Logger
    /// Entries the hard cap removed, by stream, since this process started.
    public let capTrimmed = Mutex<[String: Int]>([:])

    public init(client: RedisClient, streams: [String], policy: RetentionPolicy, interval: Duration = .seconds(10), logger: Logger) {
        self.client = client
        self.streams = streams
        self.policy = policy
        self.interval = interval
        self.logger = logger
    }

    /// Trims every `interval` until the service group shuts down (which ends the wait at once).
    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                for stream in streams {
                    do {
                        try await trim(stream)
                    } catch let error as RedisError where error.isConnectionProblem {
                        break  // the client reconnects; try again next round
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.error("trimming failed", metadata: ["stream": "\(stream)", "error": "\(error)"])
                    }
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One round for one stream; returns how many entries went (acknowledged ones, then capped ones).
    @discardableResult
    public func trim(_ stream: String, now: Date = Date()) async throws -> (acknowledged: Int, capped: Int) {
        guard let info = try await client.streamInfo(stream) else { return (0, 0) }
        var acknowledged = 0
        let excess = info.length - policy.minimumCount
        if excess > 0, let bound = try await bound(for: stream, now: now) {
            // LIMIT only goes with `~`, which trims whole nodes and never an entry at or above the bound.
            let reply = try await client.command(["XTRIM", stream, "MINID", "~", bound.description, "LIMIT", String(excess)]).orThrow()
            acknowledged = reply.int ?? 0
            if acknowledged > 0 {
                Counter(label: "bus_stream_trimmed_total", dimensions: [("stream", stream), ("reason", "acknowledged")])
                    .increment(by: acknowledged)
            }
        }
        var capped = 0
        if let cap = policy.hardCap, info.length - acknowledged > cap {
            capped = try await client.command(["XTRIM", stream, "MAXLEN", "~", String(cap)]).orThrow().int ?? 0
            if capped > 0 {
                try await client.command(["HINCRBY", RetentionPolicy.capTrimmedKey, stream, String(capped)]).orThrow()
                capTrimmed.withLock { $0[stream, default: 0] += capped }
                Counter(label: "bus_stream_trimmed_total", dimensions: [("stream", stream), ("reason", "cap")]).increment(by: capped)
                logger.warning(
                    "stream reached its hard cap: entries removed whether or not every group had read them",
                    metadata: ["stream": "\(stream)", "removed": "\(capped)", "cap": "\(cap)"])
            }
        }
        return (acknowledged, capped)
    }

    /// The first entry that must stay: the oldest any group still needs, and no later than the age floor.
    func bound(for stream: String, now: Date) async throws -> StreamID? {
        let ageFloor = StreamID(milliseconds: UInt64(max(0, Timestamp.milliseconds(now) - policy.minimumAge.milliseconds)))
        var bound = ageFloor
        for group in try await client.groups(of: stream) {
            var needed = group.lastDeliveredID
            if group.pending > 0, let oldest = try await client.oldestPending(on: stream, group: group.name) {
                needed = min(needed, oldest)
            }
            bound = min(bound, needed)
        }
        return bound == .zero ? nil : bound
    }
}
