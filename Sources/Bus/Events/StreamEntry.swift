/// One entry read from a stream: its id and its field/value pairs.
public struct StreamEntry: Sendable, Equatable {
    public var stream: String
    public var id: String
    /// Nil when the entry was deleted (`XDEL`, `MAXLEN` trimming) while still pending.
    public var fields: [String: String]?

    public init(stream: String, id: String, fields: [String: String]?) {
        self.stream = stream
        self.id = id
        self.fields = fields
    }

    /// Parses `[id, [field, value, …]]`.
    static func parse(stream: String, _ reply: RedisReply) -> StreamEntry? {
        guard let parts = reply.array, parts.count == 2, let id = parts[0].string else { return nil }
        guard let flat = parts[1].array else { return StreamEntry(stream: stream, id: id, fields: nil) }
        var fields: [String: String] = [:]
        fields.reserveCapacity(flat.count / 2)
        var index = 0
        while index + 1 < flat.count {
            if let name = flat[index].string { fields[name] = flat[index + 1].string ?? "" }
            index += 2
        }
        return StreamEntry(stream: stream, id: id, fields: fields)
    }

    /// Parses an `XREADGROUP`/`XREAD` reply: `[[stream, [entry, …]], …]` or null on timeout.
    static func parseRead(_ reply: RedisReply) -> [StreamEntry] {
        guard let streams = reply.array else { return [] }
        var entries: [StreamEntry] = []
        for stream in streams {
            guard let pair = stream.array, pair.count == 2, let name = pair[0].string, let list = pair[1].array else { continue }
            for item in list { if let entry = parse(stream: name, item) { entries.append(entry) } }
        }
        return entries
    }

    /// Parses an `XRANGE`/`XCLAIM` reply: `[entry, …]` (XCLAIM may put null where an entry was deleted).
    static func parseList(stream: String, _ reply: RedisReply) -> [StreamEntry] {
        (reply.array ?? []).compactMap { parse(stream: stream, $0) }
    }
}
