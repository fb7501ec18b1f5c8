/// The Redis Sentinels that watch a primary, and the name they know it by: where a client asks
/// which node to write to (`redis-sentinel://[user@]host:port,host:port,…/MASTERNAME`).
///
/// Asked in the order given; the first that answers names the primary, and the client checks
/// with `ROLE` that the node it reached agrees (a sentinel cut off from the others may still name
/// the old one). The sentinels' own password, if they require one, is apart from the data
/// nodes' (``password``; `--sentinel-password-file`), as Sentinel's `requirepass` is.
public struct SentinelSet: Sendable, Equatable {
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public static let defaultPort = 26379

    public var addresses: [Address]
    /// The name the sentinels monitor the primary under (`sentinel monitor <name> …`).
    public var masterName: String
    /// The sentinels' password (their `requirepass`), if they require one.
    public var password: String?

    public init(addresses: [Address], masterName: String, password: String? = nil) {
        self.addresses = addresses
        self.masterName = masterName
        self.password = password
    }

    /// Parses a `redis-sentinel://` URL into the sentinels and the data nodes' user and password.
    /// `URLComponents` takes one host only, so the URL is taken apart here.
    static func parse(_ url: String) throws(RedisError) -> (sentinels: SentinelSet, username: String?, password: String?) {
        let scheme = "redis-sentinel://"
        guard url.hasPrefix(scheme) else { throw .invalidEndpoint("\(url): expected \(scheme)host:port,…/MASTERNAME") }
        let rest = url.dropFirst(scheme.count)
        guard let slash = rest.firstIndex(of: "/") else {
            throw .invalidEndpoint("\(redacted(url)): no master name (…/MASTERNAME)")
        }
        let masterName = String(rest[rest.index(after: slash)...]).removingPercentEncoding ?? ""
        guard !masterName.isEmpty, !masterName.contains("/") else {
            throw .invalidEndpoint("\(redacted(url)): the master name must be one non-empty path segment")
        }
        var authority = rest[..<slash]
        var username: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            username = parts.first.flatMap { $0.isEmpty ? nil : String($0).removingPercentEncoding }
            password = parts.count > 1 ? String(parts[1]).removingPercentEncoding : nil
        }
        var addresses: [Address] = []
        for item in authority.split(separator: ",", omittingEmptySubsequences: false) {
            addresses.append(try address(String(item), in: url))
        }
        return (SentinelSet(addresses: addresses, masterName: masterName), username, password)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func address(_ text: String, in url: String) throws(RedisError) -> Address {
        var host = Substring(text)
        var portText: Substring?
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { host = "" }
        } else if let colon = host.lastIndex(of: ":") {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw .invalidEndpoint("\(redacted(url)): a sentinel without a host") }
        let port = portText.map { Int($0) ?? 0 } ?? defaultPort
        guard (1...65535).contains(port) else { throw .invalidEndpoint("\(redacted(url)): bad port in \(text)") }
        return Address(host: String(host), port: port)
    }

    /// The URL without the password between `:` and `@`, for error messages.
    private static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@") else { return url }
        let start = url.index(url.startIndex, offsetBy: 17)  // after redis-sentinel://
        guard start < at, let colon = url[start..<at].firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}
