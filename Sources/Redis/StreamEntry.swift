/// One entry read from a stream: its id and its field/value pairs.
public struct StreamEntry: Sendable, Equatable {
    public var stream: String
    public var id: String
    /// Nil when the entry was deleted (`XDEL`, trimming) while still pending in a group.
    public var fields: [String: String]?

    public init(stream: String, id: String, fields: [String: String]?) {
        self.stream = stream
        self.id = id
        self.fields = fields
    }

    /// Parses `[id, [field, value, …]]`.
    static func parse(stream: String, _ reply: RedisReply) -> StreamEntry? {
        guard let parts = reply.array, parts.count == 2, let id = parts[0].string else { return nil }
        guard parts[1].array != nil else { return StreamEntry(stream: stream, id: id, fields: nil) }
        return StreamEntry(stream: stream, id: id, fields: parts[1].hash)
    }

    /// Parses an `XREADGROUP`/`XREAD` reply: `[[stream, [entry, …]], …]` or null on timeout.
    public static func parseRead(_ reply: RedisReply) -> [StreamEntry] {
        guard let streams = reply.array else { return [] }
        var entries: [StreamEntry] = []
        for stream in streams {
            guard let pair = stream.array, pair.count == 2, let name = pair[0].string, let list = pair[1].array else { continue }
            for item in list { if let entry = parse(stream: name, item) { entries.append(entry) } }
        }
        return entries
    }

    /// Parses an `XRANGE`/`XCLAIM` reply: `[entry, …]` (XCLAIM may put null where an entry was deleted).
    public static func parseList(stream: String, _ reply: RedisReply) -> [StreamEntry] {
        (reply.array ?? []).compactMap { parse(stream: stream, $0) }
    }
}

/// One line of `XPENDING key group start end count [consumer]`: an entry a group handed out and
/// nobody has acknowledged yet.
public struct PendingEntry: Sendable, Equatable {
    public var id: String
    public var consumer: String
    /// How many times the group has handed the entry out (Redis's delivery count).
    public var attempts: Int

    public init(id: String, consumer: String, attempts: Int) {
        self.id = id
        self.consumer = consumer
        self.attempts = attempts
    }

    /// Parses the extended `XPENDING` reply: `[[id, consumer, idle, count], …]`.
    public static func parseList(_ reply: RedisReply) -> [PendingEntry] {
        (reply.array ?? []).compactMap { item in
            guard let fields = item.array, fields.count >= 4, let id = fields[0].string, let count = fields[3].int else { return nil }
            return PendingEntry(id: id, consumer: fields[1].string ?? "", attempts: count)
        }
    }
}

/// The stream commands more than one part of the project builds.
public enum StreamCommand {
    /// `XADD stream * field value …`. No cap here: trimming is the Bus's `StreamTrimmer`'s job,
    /// which, unlike `MAXLEN`, leaves what a consumer group has not read yet.
    public static func add(to stream: String, fields: [String]) -> [String] {
        ["XADD", stream, "*"] + fields
    }
}
