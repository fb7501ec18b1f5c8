import Foundation

/// Where Redis is and how to log in: parsed from `redis://[user[:password]@]host[:port][/db]`, or
/// `redis-sentinel://[user[:password]@]host:port,host:port,…/MASTERNAME`: the sentinels to ask for the
/// primary (``sentinels``), whose address they give replaces `host` and `port` at every connect.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    /// Bounds connecting and every socket read or write. A blocking read adds its own block time on top.
    public var timeout: Duration
    /// Set when a primary that Sentinel watches is meant, wherever it is now.
    public var sentinels: SentinelSet?

    public init(
        host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil,
        database: Int = 0, timeout: Duration = .seconds(5)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.timeout = timeout
    }

    public init(url: String) throws(RedisError) {
        if url.hasPrefix("redis-sentinel:") {
            let (sentinels, username, password) = try SentinelSet.parse(url)
            let first = sentinels.addresses[0]
            self.init(host: first.host, port: first.port, username: username, password: password)
            self.sentinels = sentinels
            return
        }
        guard let components = URLComponents(string: url), components.scheme == "redis" else {
            throw .invalidEndpoint("\(url): expected redis://host:port or redis-sentinel://host:port,…/MASTERNAME")
        }
        guard let host = components.host, !host.isEmpty else { throw .invalidEndpoint("\(url): no host") }
        var database = 0
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else { throw .invalidEndpoint("\(url): bad database number") }
            database = number
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw .invalidEndpoint("\(url): bad port")
        }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        self.init(
            host: host, port: components.port ?? 6379,
            username: user, password: components.password, database: database)
    }

    /// The URL form, with the password hidden so that it can go into logs.
    public var description: String {
        let credentials = username.map { "\($0):***@" } ?? (password == nil ? "" : ":***@")
        if let sentinels {
            return "redis-sentinel://\(credentials)\(sentinels.addresses.map(\.description).joined(separator: ","))/\(sentinels.masterName)"
        }
        return "redis://\(credentials)\(host):\(port)" + (database == 0 ? "" : "/\(database)")
    }
}
