import CHiredis

/// The answer to a read sent ahead: still in the socket (after the replies to `replies` commands
/// sent with it), or already taken off it because another command needed the connection first.
enum OwedAnswer {
    case inSocket(replies: Int)
    case kept(Result<(replies: [RedisReply], read: RecordedReply), RedisError>)
}

/// Reading ahead: a read is written to the socket now and its answer taken later, so that Redis
/// prepares it while the caller, on this connection's thread, does other work.
///
/// A consumer runs on its connection's thread (``RedisClient/executor``), so a read it asks for
/// while handling a batch waits for the thread, that is for the handling, and Redis and the
/// consumer took turns: between them they kept one core busy (`perf` of `benchmark bus`, half each).
/// With the read written first, Redis works while the batch is handled.
///
/// Other commands may use the connection in between (a handler's own, dead-lettering): whichever
/// comes first reads the owed answer off the socket and keeps it, then its own replies come in
/// order. Rejected: a second connection for reading ahead (twice the connections, and the
/// acknowledgements would race the reads on another socket); hiredis' async API (a second event
/// loop beside NIO's, for one consumer).
extension RedisConnection {
    /// Writes `commands`, then `read`, to the socket and returns without waiting for the answers;
    /// ``receiveAhead()`` takes them. An answer still owed from an earlier read sent ahead is
    /// dropped: its entries stay pending in their group, and are claimed again later.
    public func sendAhead(_ commands: [[String]], thenRecording read: [String]) throws(RedisError) {
        try settleOwed()
        owed = nil
        let context = try send(commands + [read])
        var done: Int32 = 0
        // `redisGetReply` would write the buffer before reading; here nothing is read yet.
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw lost(context) }
        }
        owed = .inSocket(replies: commands.count)
    }

    /// The answers to the read sent ahead, in the same form as ``pipeline(_:thenRecording:)``'s.
    /// Throws a connection problem when there is none: the connection it was sent on broke.
    public func receiveAhead() throws(RedisError) -> (replies: [RedisReply], read: RecordedReply) {
        try settleOwed()
        guard case .kept(let answer) = owed else {
            throw .connectionLost("the answer to a read sent ahead was lost with its connection")
        }
        owed = nil
        return try answer.get()
    }

    /// Takes an owed answer off the socket, before anything else is read from it.
    func settleOwed() throws(RedisError) {
        guard case .inSocket(let count) = owed, let context = try? openContext() else { return }
        do {
            owed = .kept(.success(try recordedAnswer(after: count, context)))
        } catch let error where !error.isConnectionProblem {
            owed = .kept(.failure(error))  // Redis's error answer: the connection is in step
        } catch {
            owed = nil
            throw error
        }
    }
}
