import CHiredis

/// The replies a connection's hiredis reader parses, recorded flat in the order RESP sends them (an
/// array before its elements), then read off into a ``RedisReply`` or straight into stream entries.
///
/// hiredis' own reply objects are a `calloc`ed struct per element plus a copy of each string, freed
/// one by one once decoded. For a consumer reading batches of 500 events of 14 fields, that
/// allocating and freeing was over half of the connection thread's time. Instead the reader gets
/// these callbacks (`redisReplyObjectFunctions`), which append each element to a tape that lives as
/// long as the connection and keeps its capacity.
///
/// Used by one connection, on one thread at a time; it must outlive the hiredis context it is
/// installed on.
final class ReplyTape {
    enum Item {
        case string(String)
        case status(String)
        case error(String)
        case integer(Int)
        case null
        case array(count: Int)
    }

    /// Appended to by hiredis' callbacks on the connection's thread, read there once the reply is
    /// complete: never two accesses at once, so the per-access exclusivity check is left out.
    @exclusivity(unchecked) private(set) var items: [Item] = []

    /// Makes the reader of `context` record on this tape. Its read buffer is kept between replies
    /// (`maxbuf` 0) instead of being freed and grown again for every large batch.
    func install(on context: UnsafeMutablePointer<redisContext>) {
        guard let reader = context.pointee.reader else { return }
        reader.pointee.fn = Self.functions
        reader.pointee.privdata = Unmanaged.passUnretained(self).toOpaque()
        reader.pointee.maxbuf = 0
    }

    /// Empties the tape for the next reply.
    func reset() { items.removeAll(keepingCapacity: true) }

    /// The reply on the tape.
    func reply() -> RedisReply {
        var cursor = 0
        return reply(at: &cursor)
    }

    private func reply(at cursor: inout Int) -> RedisReply {
        guard cursor < items.count else { return .null }
        let item = items[cursor]
        cursor += 1
        switch item {
        case .string(let text): return .string(text)
        case .status(let text): return .status(text)
        case .error(let text): return .error(text)
        case .integer(let value): return .integer(value)
        case .null: return .null
        case .array(let count):
            var elements: [RedisReply] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(reply(at: &cursor)) }
            return .array(elements)
        }
    }

    /// The entries of the `XREADGROUP`/`XREAD` answer on the tape, `[[stream, [[id, [field, value,
    /// …]], …]], …]`, read without a ``RedisReply`` in between; none for its null (a `BLOCK` that
    /// timed out). A deleted pending entry has a null for its fields.
    func entries() -> [StreamEntry] {
        var cursor = 0
        func next() -> Item? {
            guard cursor < items.count else { return nil }
            defer { cursor += 1 }
            return items[cursor]
        }
        func nextString() -> String? {
            if case .string(let text) = next() { return text }
            return nil
        }
        guard case .array(let streams) = next() else { return [] }
        var entries: [StreamEntry] = []
        for _ in 0..<streams {
            guard case .array(2) = next(), let name = nextString(), case .array(let count) = next() else {
                return StreamEntry.parseRead(reply())  // not the shape Redis sends: the general path decides
            }
            entries.reserveCapacity(entries.count + count)
            for _ in 0..<count {
                guard case .array(2) = next(), let id = nextString() else { return StreamEntry.parseRead(reply()) }
                switch next() {
                case .array(let fieldCount):
                    var fieldList: [String] = []
                    fieldList.reserveCapacity(fieldCount)
                    for _ in 0..<fieldCount {
                        guard let text = nextString() else { return StreamEntry.parseRead(reply()) }
                        fieldList.append(text)
                    }
                    entries.append(StreamEntry(stream: name, id: id, fieldList: fieldList))
                case .null:
                    entries.append(StreamEntry(stream: name, id: id, fieldList: nil))
                default:
                    return StreamEntry.parseRead(reply())
                }
            }
        }
        return entries
    }

    // MARK: - hiredis callbacks

    /// Every callback returns the tape's own address: hiredis only needs a non-null object, keeps
    /// the root one as "the reply", and hands it back from `redisGetReply`. It must never reach
    /// `freeReplyObject`.
    private static func record(_ item: Item, _ task: UnsafePointer<redisReadTask>?) -> UnsafeMutableRawPointer? {
        guard let privdata = task?.pointee.privdata else { return nil }  // nil: hiredis reports out of memory
        Unmanaged<ReplyTape>.fromOpaque(privdata).takeUnretainedValue().items.append(item)
        return privdata
    }

    private static func text(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// Allocated once for the process; hiredis keeps a pointer to it in each reader.
    nonisolated(unsafe) private static let functions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        let functions = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        functions.initialize(
            to: redisReplyObjectFunctions(
                createString: { task, pointer, length in
                    let text = ReplyTape.text(pointer, length)
                    switch task.map({ Int32($0.pointee.type) }) {
                    case REDIS_REPLY_STATUS: return ReplyTape.record(.status(text), task)
                    case REDIS_REPLY_ERROR: return ReplyTape.record(.error(text), task)
                    default: return ReplyTape.record(.string(text), task)
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
