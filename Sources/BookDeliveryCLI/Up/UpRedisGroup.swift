import Foundation
import Identity
import ProcessSupport
import ServiceKit

/// `up --redis-replicas N`: a primary (`redis`), N replicas (`redis-2`, `redis-3`, …) and three
/// sentinels (`sentinel-1` … `sentinel-3`), each a part of its own that `ctl` can stop and start;
/// every other part follows the primary through the sentinels (`redis-sentinel://`).
///
/// Every node has the same ACL file, and logs in to whichever node is its primary as `replica`
/// (its `masterauth` in a configuration file of its own, 0600, not on the command line); the
/// sentinels log in to the nodes as `sentinel` and require a password of their own
/// (`secrets/sentinels.password`), which the parts are given with `--sentinel-password-file`.
/// A node that comes back after a failover starts as it was configured and is turned into a
/// replica of the new primary by the sentinels, discarding what it had that the new one lacks.
struct UpRedisGroup {
    static let masterName = "bookdelivery"
    static let sentinelCount = 3

    struct Node {
        let name: String
        let port: Int
        let directory: URL
    }

    let nodes: [Node]
    let sentinels: [Node]
    let sentinelPasswordFile: String

    /// - Parameters:
    ///   - primary: the primary's port and directory (`up`'s usual redis-server); the replicas and
    ///     sentinels take the next free ports and directories beside it.
    ///   - portsTaken: the ports other parts will listen on, free now but not for long.
    init(replicas: Int, primaryPort: Int, portsTaken: Set<Int>, primaryDirectory: URL, data: URL, secrets: URL) throws {
        var taken = portsTaken.union([primaryPort])
        var nodes = [Node(name: UpParts.redisName, port: primaryPort, directory: primaryDirectory)]
        for number in 2..<(replicas + 2) {
            let port = try Self.freePort(in: (primaryPort + 1)...(primaryPort + 40), except: &taken)
            nodes.append(Node(name: "redis-\(number)", port: port, directory: data.appendingPathComponent("redis-\(number)")))
        }
        self.nodes = nodes
        sentinels = try (1...Self.sentinelCount).map { number in
            Node(
                name: "sentinel-\(number)", port: try Self.freePort(in: 26379...26420, except: &taken),
                directory: data.appendingPathComponent("sentinel-\(number)"))
        }
        sentinelPasswordFile = secrets.appendingPathComponent(RedisUsers.sentinelsPasswordFile).path
    }

    /// The URL a part logging in as `user` follows the primary with.
    func url(user: String) -> String {
        "redis-sentinel://\(user)@" + sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") + "/\(Self.masterName)"
    }

    /// The nodes' and sentinels' launches, in the order they start: the primary first, then its
    /// replicas, then the sentinels that watch them.
    func launches(aclFile: URL, passwords: [String: String]) throws -> [PartLaunch] {
        let sentinelPassword = try RedisUsers.keptPassword(at: sentinelPasswordFile)
        let primaryPort = nodes[0].port
        var launches: [PartLaunch] = []
        for (index, node) in nodes.enumerated() {
            try UpCommand.makePrivateDirectory(node.directory)
            let configuration = node.directory.appendingPathComponent("redis.conf")
            // Kept once written: the sentinels rewrite it (CONFIG REWRITE) as they turn the node
            // into a replica or a primary, and a restart must start it as they left it.
            if !FileManager.default.fileExists(atPath: configuration.path) {
                var lines = ["masteruser replica", "masterauth \(passwords["replica"] ?? "")"]
                if index > 0 { lines.append("replicaof 127.0.0.1 \(primaryPort)") }
                try PrivateFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: configuration.path)
            }
            let directory = node.directory
            launches.append(
                PartLaunch(name: node.name, kind: .redis) { _, port in
                    try await RedisServerProcess(
                        port: port, directory: directory, configurationFile: configuration.path,
                        arguments: ["--appendonly", "yes", "--appendfsync", "everysec", "--aclfile", aclFile.path]
                    ).process
                })
        }
        for sentinel in sentinels {
            var watch = SentinelProcess.Watch(masterName: Self.masterName, primaryPort: primaryPort)
            (watch.user, watch.password, watch.sentinelPassword) = ("sentinel", passwords["sentinel"], sentinelPassword)
            let (directory, settings) = (sentinel.directory, watch)
            launches.append(
                PartLaunch(name: sentinel.name, kind: .redis) { _, port in
                    try await SentinelProcess(port: port, directory: directory, watch: settings).process
                })
        }
        return launches
    }

    private static func freePort(in range: ClosedRange<Int>, except taken: inout Set<Int>) throws -> Int {
        guard let port = range.first(where: { !taken.contains($0) && TCPPort.isBindable($0) }) else {
            throw UpError(description: "no free port in \(range) for the Redis replicas and sentinels")
        }
        taken.insert(port)
        return port
    }
}
