import CHiredis
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One synchronous hiredis connection.
///
/// Every call blocks the calling thread, so a connection lives on its own ``ConnectionThread``
/// (see ``RedisClient``) and is never touched from Swift's cooperative pool. It is not thread-safe:
/// one thread at a time.
public final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    /// Where the reader puts each reply (``ReplyTape``); outlives `context`, which is freed first.
    private let tape = ReplyTape()
    public let endpoint: RedisEndpoint
    /// Which of its client's connections this is (1, 2, …): a new number means the old connection
    /// broke, and Redis may have restarted in between.
    public internal(set) var serial = 0
    /// Set when the connection was made to the primary the sentinels named (``open(_:)``): a
    /// reply saying the node is no longer the primary then ends it, so its client finds the new one.
    public internal(set) var followsPrimary = false
    /// The socket's read and write timeout as last set (``setReadTimeout(_:)``).
    private var timeout: Duration
    /// The answer to a read sent ahead and not taken yet (``sendAhead(_:thenRecording:)``).
    var owed: OwedAnswer?

    public init(endpoint: RedisEndpoint) throws(RedisError) {
        self.endpoint = endpoint
        self.timeout = endpoint.timeout
        let timeout = Self.makeTimeval(endpoint.timeout)
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), timeout) else {
            throw .connectionFailed("out of memory")
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw .connectionFailed("\(endpoint): \(message)")
        }
        self.context = context
        tape.install(on: context)
        _ = redisSetTimeout(context, timeout)
        _ = redisEnableKeepAlive(context)
        do {
            if let password = endpoint.password {
                let auth = endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                try command(auth).orThrow()
            }
            if endpoint.database != 0 { try command(["SELECT", String(endpoint.database)]).orThrow() }
        } catch {
            close()
            throw .connectionFailed("\(endpoint): \(error)")
        }
    }

    deinit { close() }

    public func close() {
        if let context { redisFree(context) }
        context = nil
        owed = nil
    }

    /// Sets the socket's timeout (the endpoint's for plain commands). Only a change reaches the
    /// socket: each is two `setsockopt` calls, and a consumer's connection, which does little but
    /// block, used to widen and narrow it around every read (four calls a read).
    public func setReadTimeout(_ timeout: Duration) {
        guard timeout != self.timeout, let context else { return }
        self.timeout = timeout
        _ = redisSetTimeout(context, Self.makeTimeval(timeout))
    }

    /// Makes the socket's timeout at least `timeout`, for a command that blocks on the server
    /// (`XREADGROUP … BLOCK`) up to `timeout` less the endpoint's. A wider one is kept: it only
    /// bounds how long a dead connection goes unnoticed, by a block time at most.
    public func widenReadTimeout(to timeout: Duration) {
        if timeout > self.timeout { setReadTimeout(timeout) }
    }

    /// Runs one command. Error replies come back as ``RedisReply/error(_:)``.
    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try pipeline([arguments])[0]
    }

    /// Sends all commands in one write, then reads the replies in order (`redisGetReply`): one round
    /// trip for the whole batch. The commands are laid out in Redis's protocol (RESP) here, in one
    /// buffer handed to `redisAppendFormattedCommand`: hiredis' own formatting
    /// (`redisAppendCommandArgv`) allocates and copies each command again, which cost a tenth of
    /// a publish.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        let context = try send(commands)
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try nextReply(context).reply) }
        if followsPrimary { try checkStillPrimary(replies.compactMap(\.errorMessage)) }
        return replies
    }

    /// `commands`, then `read` (an `XREADGROUP` or `XREAD`), in one round trip; the read's answer
    /// decoded straight into entries (``RecordedReply/entries()``).
    public func pipeline(_ commands: [[String]], thenRead read: [String]) throws(RedisError) -> (
        replies: [RedisReply], entries: [StreamEntry]
    ) {
        let (replies, answer) = try pipeline(commands, thenRecording: read)
        return (replies, answer.entries())
    }

    /// `commands`, then `read`, in one round trip, with the read's answer as recorded: decoding it
    /// (``RecordedReply/entries()``, without a ``RedisReply`` tree in between) is left to the
    /// caller, off this connection's thread. An error answer to the read is thrown once every reply
    /// has been read, so the connection stays in step.
    public func pipeline(_ commands: [[String]], thenRecording read: [String]) throws(RedisError) -> (
        replies: [RedisReply], read: RecordedReply
    ) {
        let context = try send(commands + [read])
        return try recordedAnswer(after: commands.count, context)
    }

    /// The replies to `count` commands, then the recorded answer of the read after them.
    func recordedAnswer(after count: Int, _ context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> (
        replies: [RedisReply], read: RecordedReply
    ) {
        var replies: [RedisReply] = []
        replies.reserveCapacity(count)
        for _ in 0..<count { replies.append(try nextReply(context).reply) }
        let answer = try nextReply(context)
        if followsPrimary { try checkStillPrimary(replies.compactMap(\.errorMessage) + [answer.errorMessage].compactMap { $0 }) }
        if let message = answer.errorMessage { throw .server(message) }
        return (replies, answer)
    }

    /// Appends `commands` to hiredis' output buffer, which the next `redisGetReply` writes. A read
    /// sent ahead is answered first: its answer is taken off the socket and kept, so that the
    /// replies read next are these commands'.
    func send(_ commands: [[String]]) throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        try settleOwed()
        let context = try openContext()
        let request = Self.protocolBytes(commands)
        let appended = request.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) == REDIS_OK }
        }
        guard appended else { throw lost(context) }
        return context
    }

    /// Reads the next reply onto the tape (`redisGetReply`).
    func nextReply(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> RecordedReply {
        tape.reset()
        var reply: UnsafeMutableRawPointer?
        // The reply object is the tape's address (see ``ReplyTape``), never to be freed.
        guard redisGetReply(context, &reply) == REDIS_OK, reply != nil else { throw lost(context) }
        return tape.recorded
    }

    /// `commands` in RESP: `*<count>\r\n` then `$<length>\r\n<bytes>\r\n` per argument; binary-safe.
    /// Sized exactly first, then written through one pointer: appending to the array from a nested
    /// function made every byte pay for a dynamic exclusivity check (over half of a publish's time).
    static func protocolBytes(_ commands: [[String]]) -> [UInt8] {
        var size = 0
        for arguments in commands {
            size += 3 + decimalDigits(arguments.count)
            for argument in arguments {
                let length = argument.utf8.count
                size += 5 + decimalDigits(length) + length
            }
        }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            let base = buffer.baseAddress!
            var at = 0
            for arguments in commands {
                at = writeLine(UInt8(ascii: "*"), arguments.count, to: base, at: at)
                for argument in arguments {
                    var argument = argument
                    let start = argument.withUTF8 { utf8 in
                        let start = writeLine(UInt8(ascii: "$"), utf8.count, to: base, at: at)
                        if let source = utf8.baseAddress { (base + start).update(from: source, count: utf8.count) }
                        return start + utf8.count
                    }
                    base[start] = 13
                    base[start + 1] = 10
                    at = start + 2
                }
            }
            precondition(at == size, "RESP size miscounted")
            initialized = size
        }
    }

    /// Writes `<marker><number>\r\n` at `at`; returns the offset after it.
    private static func writeLine(_ marker: UInt8, _ number: Int, to base: UnsafeMutablePointer<UInt8>, at: Int) -> Int {
        base[at] = marker
        let digits = decimalDigits(number)
        var rest = number
        for offset in stride(from: digits, to: 0, by: -1) {
            base[at + offset] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        base[at + digits + 1] = 13
        base[at + digits + 2] = 10
        return at + digits + 3
    }

    private static func decimalDigits(_ number: Int) -> Int {
        var digits = 1
        var rest = number
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        return digits
    }

    /// For a connection that follows the primary: a reply saying this node is not the primary any
    /// more (it was demoted in a failover) closes the connection and is thrown as lost, so that the
    /// client asks the sentinels again. The commands did not run: a replica refuses writes.
    private func checkStillPrimary(_ errors: [String]) throws(RedisError) {
        guard let message = errors.first(where: Self.saysNotPrimary) else { return }
        close()
        throw .connectionLost("\(endpoint) is no longer the primary: \(message)")
    }

    func openContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        guard let context else { throw .connectionLost("connection is closed") }
        return context
    }

    /// After an I/O or protocol error hiredis' context cannot be used again: close it so the owner reconnects.
    func lost(_ context: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = Self.errorString(context)
        close()
        return .connectionLost(message.isEmpty ? "connection closed" : message)
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafePointer(to: &context.pointee.errstr) { pointer in
            pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: context.pointee.errstr)) {
                String(cString: $0)
            }
        }
    }

    private static func makeTimeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
