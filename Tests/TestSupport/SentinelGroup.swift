import Foundation
import ProcessSupport
import Redis
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A primary, its replicas and three sentinels, each a private process on a free loopback port,
/// for tests of failover. The sentinels think the primary down after half a second: quicker tests,
/// and safe with one replica. Right after a failover a sentinel may think the new primary down too
/// (``SentinelProcess/Watch/downAfter`` says why), but with the old primary dead there is no
/// replica left to promote, so it stays the primary.
public final class SentinelGroup: Sendable {
    public static let masterName = "bookdelivery"

    /// Node 0 starts as the primary, the others as its replicas.
    public let nodes: [RedisServer]
    private let sentinels: [SentinelProcess]

    public init(replicas: Int = 1, sentinelCount: Int = 3) async throws {
        let primary = try await RedisServer(appendOnly: true)
        var nodes = [primary]
        for _ in 0..<replicas {
            nodes.append(try await RedisServer(appendOnly: true, extraArguments: ["--replicaof", "127.0.0.1", String(primary.port)]))
        }
        self.nodes = nodes
        var sentinels: [SentinelProcess] = []
        for _ in 0..<sentinelCount {
            var watch = SentinelProcess.Watch(masterName: Self.masterName, primaryPort: primary.port)
            watch.downAfter = .milliseconds(500)
            watch.failoverTimeout = .seconds(5)
            let process = try await SentinelProcess(
                port: try TCPPort.free(), directory: try TemporaryDirectory.make(prefix: "sentinel"), watch: watch)
            LiveServers.add(process.process.pid)
            sentinels.append(process)
        }
        self.sentinels = sentinels
    }

    deinit {
        for sentinel in sentinels {
            sentinel.process.signal(SIGKILL)
            sentinel.process.wait()
            LiveServers.remove(sentinel.process.pid)
            try? FileManager.default.removeItem(at: sentinel.directory)
        }
    }

    /// The URL a client follows the primary with.
    public var url: String {
        "redis-sentinel://" + sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") + "/\(Self.masterName)"
    }

    public var endpoint: RedisEndpoint {
        get throws { try RedisEndpoint(url: url) }
    }

    /// The node the sentinels name as the primary now.
    public func primary() throws -> RedisServer {
        let address = try RedisConnection.open(try endpoint).endpoint.port
        guard let node = nodes.first(where: { $0.port == address }) else {
            throw TestSupportError("the primary is no node of ours: \(address)")
        }
        return node
    }

    /// What `node` says it is: `master` or `slave`.
    public func role(of node: RedisServer) -> String? {
        (try? node.command(["ROLE"]))?.array?.first?.string
    }

    /// Waits until the sentinels name another primary than `old` and that node says it is one.
    public func waitForPromotion(from old: RedisServer, within timeout: Duration = .seconds(30)) async throws -> RedisServer {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let node = try? primary(), node.port != old.port { return node }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("no replica was promoted within \(timeout)")
    }

    /// Waits until every replica has what the primary has (`WAIT` for all of them).
    public func waitForReplicas() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        let primary = try primary()
        while ContinuousClock.now < deadline {
            if (try? primary.command(["WAIT", String(nodes.count - 1), "100"]))?.int == nodes.count - 1 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("the replicas did not catch up")
    }
}
