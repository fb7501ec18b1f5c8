/// One decoded RESP2 reply, read off the connection's ``ReplyTape`` as soon as it is complete.
public enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int)
    /// A bulk string. Everything the Bus stores is UTF-8 text, so it is decoded here once.
    case string(String)
    case null
    case array([RedisReply])

    public var string: String? {
        switch self {
        case .string(let value), .status(let value): value
        case .integer(let value): String(value)
        default: nil
        }
    }

    public var int: Int? {
        switch self {
        case .integer(let value): value
        case .string(let value): Int(value)
        default: nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The message of an error reply; nil for every other reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    /// Turns an error reply into a thrown ``RedisError/server(_:)``; passes every other reply through.
    @discardableResult
    public func orThrow() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw RedisError.server(message) }
        return self
    }
}

extension RedisReply {
    /// A flat `[field, value, field, value, …]` array (`HGETALL`, `XINFO`, a stream entry's fields)
    /// as a dictionary of replies; a trailing odd element is ignored.
    public var pairs: [String: RedisReply] {
        let items = array ?? []
        var result: [String: RedisReply] = [:]
        result.reserveCapacity(items.count / 2)
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].string { result[key] = items[index + 1] }
            index += 2
        }
        return result
    }

    /// The same as text: every value as its string form (empty for nil replies).
    public var hash: [String: String] {
        let items = array ?? []
        var result: [String: String] = [:]
        result.reserveCapacity(items.count / 2)
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].string { result[key] = items[index + 1].string ?? "" }
            index += 2
        }
        return result
    }

    /// The elements of an array reply that are strings, e.g. the keys `SCAN` returned.
    public var strings: [String] {
        (array ?? []).compactMap(\.string)
    }
}
