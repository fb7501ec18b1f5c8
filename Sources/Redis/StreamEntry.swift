/// One entry read from a stream: its id and its field/value pairs.
public struct StreamEntry: Sendable {
    public var stream: String
    public var id: String
    /// The entry's fields as Redis keeps them, in the order they were added: name, value, name,
    /// value, … A consumer reads a batch of these straight from hiredis' reply, without a
    /// dictionary per entry (hashing every name cost more than the rest of the decoding). Nil when
    /// the entry was deleted (`XDEL`, trimming) while still pending in a group.
    public var fieldList: [String]?

    public init(stream: String, id: String, fieldList: [String]?) {
        self.stream = stream
        self.id = id
        self.fieldList = fieldList
    }

    /// An entry with these fields, laid out in the order of their names.
    public init(stream: String, id: String, fields: [String: String]?) {
        self.init(stream: stream, id: id, fieldList: fields.map { $0.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] } })
    }

    /// The fields by name (the last value wins for a repeated name); nil for a deleted entry.
    public var fields: [String: String]? {
        fieldList.map { list in
            var result: [String: String] = [:]
            result.reserveCapacity(list.count / 2)
            for index in stride(from: 0, to: list.count - 1, by: 2) { result[list[index]] = list[index + 1] }
            return result
        }
    }

    /// The value of field `name`, or nil: a scan of the few fields, with no dictionary.
    public func value(of name: String) -> String? {
        fieldList.flatMap { Self.value(of: name, in: $0) }
    }

    /// The value of field `name` in a field list (name, value, …), or nil.
    public static func value(of name: String, in fieldList: [String]) -> String? {
        var index = 0
        while index + 1 < fieldList.count {
            if fieldList[index] == name { return fieldList[index + 1] }
            index += 2
        }
        return nil
    }

    /// Parses `[id, [field, value, …]]`.
    static func parse(stream: String, _ reply: RedisReply) -> StreamEntry? {
        guard let parts = reply.array, parts.count == 2, let id = parts[0].string else { return nil }
        guard let values = parts[1].array else { return StreamEntry(stream: stream, id: id, fieldList: nil) }
        return StreamEntry(stream: stream, id: id, fieldList: values.map { $0.string ?? "" })
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

extension StreamEntry: Equatable {
    /// Equal when stream, id and the fields by name are: the order of the fields does not count.
    public static func == (lhs: StreamEntry, rhs: StreamEntry) -> Bool {
        lhs.stream == rhs.stream && lhs.id == rhs.id && lhs.fields == rhs.fields
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
