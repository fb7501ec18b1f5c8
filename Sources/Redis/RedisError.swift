/// What can go wrong talking to Redis, split by what the caller should do about it.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection could be made (refused, unknown host, authentication failed).
    case connectionFailed(String)
    /// The connection broke mid-command (EOF, reset, timeout). The command may or may not have run.
    case connectionLost(String)
    /// Redis answered with an error reply, e.g. `NOGROUP …` or `WRONGTYPE …`.
    case server(String)
    /// Redis answered with a reply of a shape the caller did not expect.
    case unexpectedReply(String)
    /// The endpoint URL could not be understood.
    case invalidEndpoint(String)
    /// The client was closed.
    case closed
    /// The connection is not the one the caller checked Redis on: it broke and was made anew since.
    case connectionChanged

    /// True when reconnecting and trying again may help.
    public var isConnectionProblem: Bool {
        switch self {
        case .connectionFailed, .connectionLost: true
        default: false
        }
    }

    /// True for the `NOGROUP` error Redis gives when a stream or its consumer group is missing,
    /// which happens when Redis came back empty, and for `UNBLOCKED`, which a blocked read gets
    /// when its stream is deleted under it.
    public var isMissingGroup: Bool {
        if case .server(let message) = self { return message.hasPrefix("NOGROUP") || message.hasPrefix("UNBLOCKED") }
        return false
    }

    /// True for error replies that say Redis cannot take the command just now (out of memory,
    /// loading its data, busy with a script, a read-only replica): trying again later may work.
    public var isTemporaryRefusal: Bool {
        guard case .server(let message) = self else { return false }
        return ["OOM", "LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN", "NOREPLICAS", "CLUSTERDOWN"].contains {
            message.hasPrefix($0)
        }
    }

    public var description: String {
        switch self {
        case .connectionFailed(let message): "cannot connect to Redis: \(message)"
        case .connectionLost(let message): "lost the Redis connection: \(message)"
        case .server(let message): "Redis error: \(message)"
        case .unexpectedReply(let message): "unexpected Redis reply: \(message)"
        case .invalidEndpoint(let message): "invalid Redis URL: \(message)"
        case .closed: "the Redis client is closed"
        case .connectionChanged: "the Redis connection was made anew since it was last checked"
        }
    }
}
