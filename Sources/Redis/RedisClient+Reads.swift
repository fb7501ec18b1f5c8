/// Typed reads that walk a keyspace or a stream page by page.
extension RedisClient {
    /// Every key matching `pattern` (and of `type`, when given), with `SCAN`: never blocks the
    /// server the way `KEYS` does. Keys are in no particular order.
    public func scanKeys(matching pattern: String? = nil, type: String? = nil) async throws -> [String] {
        var keys: [String] = []
        var cursor = "0"
        repeat {
            var command = ["SCAN", cursor, "COUNT", "1000"]
            if let pattern { command += ["MATCH", pattern] }
            if let type { command += ["TYPE", type] }
            let reply = try await self.command(command).orThrow()
            guard let parts = reply.array, parts.count == 2 else { throw RedisError.unexpectedReply("SCAN gave \(reply)") }
            cursor = parts[0].string ?? "0"
            keys += parts[1].strings
        } while cursor != "0"
        return keys
    }

    /// Up to `count` entries of `stream` after the entry id `after` (from the first entry when nil).
    public func range(of stream: String, after: String? = nil, count: Int) async throws -> [StreamEntry] {
        let start = after.map { "(" + $0 } ?? "-"
        let reply = try await command(["XRANGE", stream, start, "+", "COUNT", String(count)]).orThrow()
        return StreamEntry.parseList(stream: stream, reply)
    }

    /// Up to `count` pending entries of `group` on `stream` from `start` to `end`, of one consumer when given.
    public func pending(
        on stream: String, group: String, from start: String = "-", to end: String = "+", count: Int, consumer: String? = nil
    ) async throws -> [PendingEntry] {
        var arguments = ["XPENDING", stream, group, start, end, String(count)]
        if let consumer { arguments.append(consumer) }
        return PendingEntry.parseList(try await command(arguments).orThrow())
    }
}
