extension RedisConnection {
    /// A connection to `endpoint`: for a `redis://` one, to its host; for a `redis-sentinel://` one,
    /// to the node the sentinels name as the primary now, checked with `ROLE`.
    ///
    /// This is the connect step of Redis's guide for Sentinel clients: ask the sentinels in turn
    /// (the first that answers names the primary), connect, and refuse a node that says it is a
    /// replica — a sentinel on the minority side of a partition, or one that has not heard of a
    /// failover yet, names the old primary. A refusal is a ``RedisError/connectionFailed(_:)``, so
    /// ``RedisClient`` backs off and asks again. Rejected: subscribing to `+switch-master` on a
    /// sentinel, which needs a second connection per client and still misses the notices sent while
    /// it reconnects; the signs the data connection itself gives (an error, `READONLY`, the
    /// demoted primary closing its clients) are enough, and are there whatever the sentinels do.
    public static func open(_ endpoint: RedisEndpoint) throws(RedisError) -> RedisConnection {
        guard let sentinels = endpoint.sentinels else { return try RedisConnection(endpoint: endpoint) }
        let primary = try askForPrimary(sentinels, timeout: min(endpoint.timeout, .seconds(1)))
        var node = endpoint
        node.host = primary.host
        node.port = primary.port
        node.sentinels = nil
        let connection = try RedisConnection(endpoint: node)
        let role = try connection.command(["ROLE"])
        guard role.array?.first?.string == "master" else {
            connection.close()
            let said = role.array?.first?.string ?? "\(role)"
            throw .connectionFailed("\(primary), named by the sentinels as \(sentinels.masterName)'s primary, says it is a \(said)")
        }
        connection.followsPrimary = true
        return connection
    }

    /// The primary's address, from the first sentinel that knows it.
    static func askForPrimary(_ sentinels: SentinelSet, timeout: Duration) throws(RedisError) -> SentinelSet.Address {
        var problems: [String] = []
        for address in sentinels.addresses {
            let sentinel = RedisEndpoint(host: address.host, port: address.port, password: sentinels.password, timeout: timeout)
            do {
                let connection = try RedisConnection(endpoint: sentinel)
                defer { connection.close() }
                let reply = try connection.command(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", sentinels.masterName])
                if case .error(let message) = reply {
                    problems.append("\(address): \(message)")
                    continue
                }
                guard let parts = reply.array, parts.count == 2, let host = parts[0].string, let port = parts[1].int else {
                    problems.append("\(address): does not know \(sentinels.masterName)")
                    continue
                }
                return SentinelSet.Address(host: host, port: port)
            } catch {
                problems.append("\(address): \(error)")
            }
        }
        throw .connectionFailed("no sentinel named the primary of \(sentinels.masterName): \(problems.joined(separator: "; "))")
    }

    /// Whether an error reply says this node is no longer the primary: `READONLY` (a replica
    /// refusing a write) or a blocked read ended because the node changed role.
    static func saysNotPrimary(_ message: String) -> Bool {
        message.hasPrefix("READONLY") || (message.hasPrefix("UNBLOCKED") && message.contains("instance state changed"))
    }
}
