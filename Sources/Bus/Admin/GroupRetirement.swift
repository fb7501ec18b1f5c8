import Redis

/// Retires a consumer group that no service runs any more (`bookdelivery groups --retire GROUP`).
///
/// Why it matters: trimming never goes below what every group has read (``RetentionPolicy``), so a
/// group left behind by a retired service holds every stream it read at full length until the hard
/// cap removes entries unread, loudly. Destroying the group lets trimming go on. What the group
/// still had pending, or had not read, is shown first: once destroyed, nobody will handle it.
public enum GroupRetirement {
    /// The group on one stream, as it was before it was destroyed.
    public struct Found: Sendable, Equatable {
        public var stream: String
        public var consumers: Int
        public var pending: Int
        /// Entries the group had not read yet; nil when Redis cannot tell.
        public var lag: Int?

        public init(stream: String, consumers: Int, pending: Int, lag: Int?) {
            (self.stream, self.consumers, self.pending, self.lag) = (stream, consumers, pending, lag)
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// No stream has the group.
        case notFound
        /// The group still has work (pending or unread entries) and `force` was not given.
        case refused([Found])
        case retired([Found])
    }

    /// Destroys `group` on every stream that has it, unless it still has work and not `force`.
    public static func retire(_ group: String, client: RedisClient, force: Bool) async throws -> Outcome {
        let report = try await StreamsReport.read(client: client)
        let found = report.streams.compactMap { stream in
            stream.groups.first { $0.name == group }.map {
                Found(stream: stream.name, consumers: $0.consumers, pending: $0.pending, lag: $0.lag)
            }
        }
        guard !found.isEmpty else { return .notFound }
        guard force || found.allSatisfy({ $0.pending == 0 && ($0.lag ?? 0) == 0 }) else { return .refused(found) }
        for entry in found { _ = try await client.command(["XGROUP", "DESTROY", entry.stream, group]).orThrow() }
        return .retired(found)
    }
}
