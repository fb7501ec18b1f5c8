import Foundation

/// Where Redis is and how to log in: parsed from `redis://[user[:password]@]host[:port][/db]`.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    /// Bounds connecting and every socket read or write. A blocking read adds its own block time on top.
    public var timeout: Duration

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
        guard let components = URLComponents(string: url), components.scheme == "redis" else {
            throw .invalidEndpoint("\(url): expected redis://host:port")
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
        return "redis://\(credentials)\(host):\(port)" + (database == 0 ? "" : "/\(database)")
    }
}
