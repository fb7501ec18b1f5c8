import Redis

/// What `bookdelivery streams` prints: each stream's length, each group's lag and pending count,
/// and the dead-letter streams' lengths.
public struct StreamsReport: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var name: String
        public var consumers: Int
        public var pending: Int
        /// Entries not yet delivered to the group; nil when Redis cannot tell (after trimming).
        public var lag: Int?
    }

    public struct Stream: Sendable, Equatable {
        public var name: String
        public var length: Int
        public var groups: [Group]
    }

    public var streams: [Stream]
    public var deadLetters: [Stream]

    /// Reads every stream key in the database (`SCAN … TYPE stream`).
    public static func read(client: RedisClient) async throws -> StreamsReport {
        let names = try await client.scanKeys(type: "stream").sorted()

        var streams: [Stream] = []
        var deadLetters: [Stream] = []
        for name in names {
            let replies = try await client.pipeline([["XLEN", name], ["XINFO", "GROUPS", name]])
            let length = try replies[0].orThrow().int ?? 0
            let groups = (try replies[1].orThrow().array ?? []).map { info -> Group in
                let fields = info.pairs
                return Group(
                    name: fields["name"]?.string ?? "?", consumers: fields["consumers"]?.int ?? 0,
                    pending: fields["pending"]?.int ?? 0, lag: fields["lag"]?.int)
            }
            let stream = Stream(name: name, length: length, groups: groups.sorted { $0.name < $1.name })
            if DeadLetter.source(of: name) != nil { deadLetters.append(stream) } else { streams.append(stream) }
        }
        return StreamsReport(streams: streams, deadLetters: deadLetters)
    }

    /// A plain-text table for terminals.
    public var text: String {
        var lines = ["STREAM                               LENGTH  GROUP          CONSUMERS  PENDING  LAG"]
        func pad(_ value: String, _ width: Int) -> String {
            value.count >= width ? value + " " : value + String(repeating: " ", count: width - value.count)
        }
        for stream in streams {
            if stream.groups.isEmpty {
                lines.append(pad(stream.name, 37) + pad(String(stream.length), 8) + "(no groups)")
            }
            for (index, group) in stream.groups.enumerated() {
                let head = index == 0 ? pad(stream.name, 37) + pad(String(stream.length), 8) : String(repeating: " ", count: 45)
                lines.append(
                    head + pad(group.name, 15) + pad(String(group.consumers), 11) + pad(String(group.pending), 9)
                        + (group.lag.map(String.init) ?? "?"))
            }
        }
        lines.append("")
        lines.append("DEAD-LETTER STREAM                   ENTRIES")
        if deadLetters.isEmpty { lines.append("(none)") }
        for stream in deadLetters { lines.append(pad(stream.name, 37) + String(stream.length)) }
        return lines.joined(separator: "\n")
    }
}
