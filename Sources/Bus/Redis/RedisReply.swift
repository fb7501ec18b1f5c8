/// One decoded RESP2 reply. hiredis hands us a tree of `redisReply` structs; we copy it
/// into this value type at once so that nothing outlives `freeReplyObject`.
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

    /// Turns an error reply into a thrown ``RedisError/server(_:)``; passes every other reply through.
    @discardableResult
    public func orThrow() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw RedisError.server(message) }
        return self
    }
}
