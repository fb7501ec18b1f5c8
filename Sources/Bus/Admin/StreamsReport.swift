import Redis

/// What `bookdelivery streams` prints: each stream's length, each group's lag and pending count,
/// and the dead-letter streams' lengths.
public struct StreamsReport: Sendable, Equatable {
    public typealias Group = GroupInfo

    public struct Stream: Sendable, Equatable {
        public var name: String
        public var length: Int
        public var groups: [Group]
        /// Entries the hard cap removed, whether or not every group had read them (``RetentionPolicy``).
        public var capTrimmed: Int
        /// Events relays set aside as ones that can never be published to this stream (``OutboxRelay``).
        public var setAside: Int
    }

    public var streams: [Stream]
    public var deadLetters: [Stream]

    /// Reads every stream key in the database (`SCAN … TYPE stream`).
    public static func read(client: RedisClient) async throws -> StreamsReport {
        let names = try await client.scanKeys(type: "stream").sorted()
        let (capTrimmed, setAside) = try await lossCounts(client: client)

        var streams: [Stream] = []
        var deadLetters: [Stream] = []
        for name in names {
            let replies = try await client.pipeline([["XLEN", name], ["XINFO", "GROUPS", name]])
            let length = try replies[0].orThrow().int ?? 0
            let groups = GroupInfo.parseList(try replies[1].orThrow())
            let stream = Stream(
                name: name, length: length, groups: groups.sorted { $0.name < $1.name }, capTrimmed: capTrimmed[name] ?? 0,
                setAside: setAside[name] ?? 0)
            if DeadLetter.source(of: name) != nil { deadLetters.append(stream) } else { streams.append(stream) }
        }
        return StreamsReport(streams: streams, deadLetters: deadLetters)
    }

    /// Per stream, the entries the hard cap removed and the events relays set aside: the counts
    /// every process keeps in Redis (``RetentionPolicy/capTrimmedKey``, ``OutboxRelay/setAsideKey``).
    static func lossCounts(client: RedisClient) async throws -> (capTrimmed: [String: Int], setAside: [String: Int]) {
        let counts = try await client.pipeline([["HGETALL", RetentionPolicy.capTrimmedKey], ["HGETALL", OutboxRelay.setAsideKey]])
        return (try counts[0].orThrow().hash.compactMapValues(Int.init), try counts[1].orThrow().hash.compactMapValues(Int.init))
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
        lines.append("")
        let all = streams + deadLetters
        let capped = all.filter { $0.capTrimmed > 0 }.map { "\($0.name)=\($0.capTrimmed)" }
        let setAside = all.filter { $0.setAside > 0 }.map { "\($0.name)=\($0.setAside)" }
        lines.append("removed by the hard cap, read or not: " + (capped.isEmpty ? "none" : capped.joined(separator: " ")))
        lines.append("events set aside by relays, never published: " + (setAside.isEmpty ? "none" : setAside.joined(separator: " ")))
        return lines.joined(separator: "\n")
    }
}
