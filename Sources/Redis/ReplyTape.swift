import CHiredis

/// The replies a connection's hiredis reader parses, recorded flat in the order RESP sends them (an
/// array before its elements): the bytes of every string in one buffer, and a plain item per
/// element. A ``RecordedReply`` is then read off into a ``RedisReply`` or straight into stream entries.
///
/// hiredis' own reply objects are a `calloc`ed struct per element plus a copy of each string, freed
/// one by one once decoded. For a consumer reading batches of 500 events of 14 fields, that
/// allocating and freeing was over half of the connection thread's time. Instead the reader gets
/// these callbacks (`redisReplyObjectFunctions`), which only append to the tape: no allocation per
/// element, no reference counting. The Swift strings are made by whoever reads the recorded reply,
/// which for a consumer is its own task, not the connection's thread.
///
/// Used by one connection, on one thread at a time; it must outlive the hiredis context it is
/// installed on.
final class ReplyTape {
    /// Appended to by hiredis' callbacks on the connection's thread, taken there once the reply is
    /// complete: never two accesses at once, so the per-access exclusivity check is left out.
    @exclusivity(unchecked) private var items: [RecordedReply.Item] = []
    @exclusivity(unchecked) private var bytes: [UInt8] = []

    /// Makes the reader of `context` record on this tape. Its read buffer is kept between replies
    /// (`maxbuf` 0) instead of being freed and grown again for every large batch.
    func install(on context: UnsafeMutablePointer<redisContext>) {
        guard let reader = context.pointee.reader else { return }
        reader.pointee.fn = Self.functions
        reader.pointee.privdata = Unmanaged.passUnretained(self).toOpaque()
        reader.pointee.maxbuf = 0
    }

    /// Empties the tape for the next reply.
    func reset() {
        items.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
    }

    /// The reply on the tape, as a value that can leave the connection's thread.
    var recorded: RecordedReply { RecordedReply(items: items, bytes: bytes) }

    // MARK: - hiredis callbacks

    /// Every callback returns the tape's own address: hiredis only needs a non-null object, keeps
    /// the root one as "the reply", and hands it back from `redisGetReply`. It must never reach
    /// `freeReplyObject`.
    private static func record(_ item: RecordedReply.Item, _ task: UnsafePointer<redisReadTask>?) -> UnsafeMutableRawPointer? {
        guard let privdata = task?.pointee.privdata else { return nil }  // nil: hiredis reports out of memory
        Unmanaged<ReplyTape>.fromOpaque(privdata)._withUnsafeGuaranteedRef { $0.items.append(item) }
        return privdata
    }

    private static func recordText(
        _ kind: RecordedReply.TextKind, _ pointer: UnsafeMutablePointer<CChar>?, _ length: Int, _ task: UnsafePointer<redisReadTask>?
    ) -> UnsafeMutableRawPointer? {
        guard let privdata = task?.pointee.privdata else { return nil }
        Unmanaged<ReplyTape>.fromOpaque(privdata)._withUnsafeGuaranteedRef { tape in
            let start = tape.bytes.count
            if let pointer, length > 0 { tape.bytes.append(contentsOf: UnsafeRawBufferPointer(start: pointer, count: length)) }
            tape.items.append(.text(kind, start: start, count: max(0, length)))
        }
        return privdata
    }

    /// Allocated once for the process; hiredis keeps a pointer to it in each reader.
    nonisolated(unsafe) private static let functions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        let functions = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        functions.initialize(
            to: redisReplyObjectFunctions(
                createString: { task, pointer, length in
                    switch task.map({ Int32($0.pointee.type) }) {
                    case REDIS_REPLY_STATUS: ReplyTape.recordText(.status, pointer, length, task)
                    case REDIS_REPLY_ERROR: ReplyTape.recordText(.error, pointer, length, task)
                    default: ReplyTape.recordText(.string, pointer, length, task)
                    }
                },
                createArray: { task, count in ReplyTape.record(.array(count: Int(max(0, count))), task) },
                createInteger: { task, value in ReplyTape.record(.integer(Int(value)), task) },
                createNil: { task in ReplyTape.record(.null, task) },
                freeObject: { _ in }  // nothing to free: the tape is reused
            ))
        return functions
    }()
}

/// One reply as a ``ReplyTape`` recorded it: plain items in RESP order over one buffer of bytes.
public struct RecordedReply: Sendable {
    enum TextKind: Sendable {
        case string, status, error
    }

    enum Item: Sendable {
        case text(TextKind, start: Int, count: Int)
        case integer(Int)
        case null
        case array(count: Int)
    }

    let items: [Item]
    let bytes: [UInt8]

    /// The error message when the reply is an error.
    var errorMessage: String? {
        guard case .text(.error, let start, let count) = items.first else { return nil }
        return bytes.withUnsafeBufferPointer { Self.text($0, start, count) }
    }

    /// The reply as a ``RedisReply``.
    var reply: RedisReply {
        bytes.withUnsafeBufferPointer { bytes in
            var cursor = 0
            return reply(at: &cursor, bytes)
        }
    }

    private func reply(at cursor: inout Int, _ bytes: UnsafeBufferPointer<UInt8>) -> RedisReply {
        guard cursor < items.count else { return .null }
        let item = items[cursor]
        cursor += 1
        switch item {
        case .text(.string, let start, let count): return .string(Self.text(bytes, start, count))
        case .text(.status, let start, let count): return .status(Self.text(bytes, start, count))
        case .text(.error, let start, let count): return .error(Self.text(bytes, start, count))
        case .integer(let value): return .integer(value)
        case .null: return .null
        case .array(let count):
            var elements: [RedisReply] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(reply(at: &cursor, bytes)) }
            return .array(elements)
        }
    }

    /// The entries of an `XREADGROUP`/`XREAD` answer, `[[stream, [[id, [field, value, …]], …]], …]`,
    /// read without a ``RedisReply`` in between; none for its null (a `BLOCK` that timed out). A
    /// deleted pending entry has a null for its fields.
    public func entries() -> [StreamEntry] {
        bytes.withUnsafeBufferPointer { bytes in
            entries(bytes) ?? StreamEntry.parseRead(reply)  // not the shape Redis sends: the general path decides
        }
    }

    private func entries(_ bytes: UnsafeBufferPointer<UInt8>) -> [StreamEntry]? {
        var cursor = 0
        func next() -> Item? {
            guard cursor < items.count else { return nil }
            defer { cursor += 1 }
            return items[cursor]
        }
        func nextString() -> String? {
            guard case .text(.string, let start, let count) = next() else { return nil }
            return Self.text(bytes, start, count)
        }
        guard case .array(let streams) = next() else { return [] }
        var entries: [StreamEntry] = []
        for _ in 0..<streams {
            guard case .array(2) = next(), let name = nextString(), case .array(let count) = next() else { return nil }
            entries.reserveCapacity(entries.count + count)
            for _ in 0..<count {
                guard case .array(2) = next(), let id = nextString() else { return nil }
                switch next() {
                case .array(let fieldCount):
                    var fieldList: [String] = []
                    fieldList.reserveCapacity(fieldCount)
                    for _ in 0..<fieldCount {
                        guard let text = nextString() else { return nil }
                        fieldList.append(text)
                    }
                    entries.append(StreamEntry(stream: name, id: id, fieldList: fieldList))
                case .null:
                    entries.append(StreamEntry(stream: name, id: id, fieldList: nil))
                default:
                    return nil
                }
            }
        }
        return entries
    }

    /// How many entries an `XREADGROUP`/`XREAD` answer holds, counted on the tape without decoding
    /// any: a consumer reading ahead decides on it before it decodes (``RedisConnection/sendAhead(_:thenRecording:)``).
    public var entryCount: Int {
        guard case .array(let streams)? = items.first else { return 0 }
        var cursor = 1
        var total = 0
        for _ in 0..<streams {
            // [stream, [entry, …]]: the pair, the name, then the entries' array.
            guard cursor + 2 < items.count, case .array(let count) = items[cursor + 2] else { return total }
            total += count
            cursor += 3
            for _ in 0..<count { cursor = end(of: cursor) }
        }
        return total
    }

    /// The index after the item at `cursor` and everything nested in it.
    private func end(of cursor: Int) -> Int {
        guard cursor < items.count else { return cursor }
        var next = cursor + 1
        if case .array(let count) = items[cursor] { for _ in 0..<count { next = end(of: next) } }
        return next
    }

    private static func text(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<start + count]), as: UTF8.self)
    }
}
