/// What `XINFO STREAM` says of a stream (Redis 7): enough to tell whether entries were lost.
public struct StreamInfo: Sendable, Equatable {
    public var length: Int
    /// The id of the last entry ever added, even if it was deleted or trimmed since.
    public var lastGeneratedID: StreamID
    /// How many entries were ever added to the stream, trimmed and deleted ones included.
    public var entriesAdded: Int
    public var firstEntryID: StreamID?

    public init(length: Int, lastGeneratedID: StreamID, entriesAdded: Int, firstEntryID: StreamID?) {
        self.length = length
        self.lastGeneratedID = lastGeneratedID
        self.entriesAdded = entriesAdded
        self.firstEntryID = firstEntryID
    }

    /// Parses the reply of `XINFO STREAM key`.
    public init?(_ reply: RedisReply) {
        let fields = reply.pairs
        guard let length = fields["length"]?.int, let last = fields["last-generated-id"]?.string.flatMap(StreamID.init),
            let added = fields["entries-added"]?.int
        else { return nil }
        let first = fields["first-entry"]?.array?.first?.string.flatMap(StreamID.init)
        self.init(length: length, lastGeneratedID: last, entriesAdded: added, firstEntryID: first)
    }
}

/// What `XINFO GROUPS` says of one consumer group.
public struct GroupInfo: Sendable, Equatable {
    public var name: String
    public var consumers: Int
    public var pending: Int
    public var lastDeliveredID: StreamID
    /// Entries not yet delivered to the group; nil when Redis cannot tell (after trimming or deletions).
    public var lag: Int?
    /// Entries delivered to the group so far (Redis 7's `entries-read`); nil when Redis cannot tell.
    public var entriesRead: Int?

    public init(name: String, consumers: Int, pending: Int, lastDeliveredID: StreamID, lag: Int?, entriesRead: Int? = nil) {
        self.entriesRead = entriesRead
        self.name = name
        self.consumers = consumers
        self.pending = pending
        self.lastDeliveredID = lastDeliveredID
        self.lag = lag
    }

    /// Parses the reply of `XINFO GROUPS key`.
    public static func parseList(_ reply: RedisReply) -> [GroupInfo] {
        (reply.array ?? []).compactMap { item in
            let fields = item.pairs
            guard let name = fields["name"]?.string else { return nil }
            return GroupInfo(
                name: name, consumers: fields["consumers"]?.int ?? 0, pending: fields["pending"]?.int ?? 0,
                lastDeliveredID: fields["last-delivered-id"]?.string.flatMap(StreamID.init) ?? .zero, lag: fields["lag"]?.int,
                entriesRead: fields["entries-read"]?.int)
        }
    }
}

extension RedisClient {
    /// `XINFO STREAM`; nil when the stream does not exist.
    public func streamInfo(_ stream: String) async throws -> StreamInfo? {
        let reply = try await command(["XINFO", "STREAM", stream])
        if case .error(let message) = reply, message.contains("no such key") { return nil }
        guard let info = StreamInfo(try reply.orThrow()) else { throw RedisError.unexpectedReply("XINFO STREAM gave \(reply)") }
        return info
    }

    /// `XINFO GROUPS`; empty when the stream does not exist.
    public func groups(of stream: String) async throws -> [GroupInfo] {
        let reply = try await command(["XINFO", "GROUPS", stream])
        if case .error(let message) = reply, message.contains("no such key") { return [] }
        return GroupInfo.parseList(try reply.orThrow())
    }

    /// The oldest entry `group` has pending on `stream`, from the `XPENDING` summary; nil when none is.
    public func oldestPending(on stream: String, group: String) async throws -> StreamID? {
        let reply = try await command(["XPENDING", stream, group]).orThrow()
        guard let parts = reply.array, parts.count >= 2, (parts[0].int ?? 0) > 0 else { return nil }
        return parts[1].string.flatMap(StreamID.init)
    }
}
