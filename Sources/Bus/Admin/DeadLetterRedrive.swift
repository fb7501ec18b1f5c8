import Redis

/// Puts dead-lettered entries back on their source stream once the cause is fixed.
///
/// Each entry's original fields (event id included) are appended to the source stream and the
/// dead-letter entry is deleted, in one `MULTI`. Every group of that stream sees the event again;
/// the groups that had handled it already skip it, since consumers de-duplicate on the event id.
public enum DeadLetterRedrive {
    /// Re-drives up to `limit` entries of `deadLetterStream`; returns how many went back.
    public static func redrive(client: RedisClient, deadLetterStream: String, limit: Int = 1000) async throws -> Int {
        guard let source = DeadLetter.source(of: deadLetterStream) else {
            throw RedisError.server("'\(deadLetterStream)' is not a dead-letter stream (expected <stream>\(DeadLetter.separator)<group>)")
        }
        var moved = 0
        for entry in try await client.range(of: deadLetterStream, count: limit) {
            let fields = DeadLetter.originalFields(of: entry)
            guard !fields.isEmpty else { continue }
            let replies = try await client.pipeline([
                ["MULTI"],
                StreamCommand.add(to: source.stream, fields: DeadLetter.orderedFields(fields)),
                ["XDEL", deadLetterStream, entry.id],
                ["EXEC"],
            ])
            for reply in replies { try reply.orThrow() }
            moved += 1
        }
        return moved
    }
}
