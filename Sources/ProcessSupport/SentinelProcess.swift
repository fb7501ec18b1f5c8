import Foundation
import Redis

#if canImport(Glibc)
    import Glibc
#endif

/// A `redis-sentinel` child process on a loopback port that watches one primary: `up
/// --redis-replicas` runs three, the tests three each.
///
/// Sentinel rewrites its configuration file as it learns the replicas, the other sentinels and
/// each failover, so the file is its own (`sentinel.conf` in `directory`, 0600: it holds the
/// password it logs in to the data nodes with). A sentinel started again on that directory keeps
/// what it had learnt.
public final class SentinelProcess: Sendable {
    public struct Watch: Sendable {
        /// The name clients ask for (`…/MASTERNAME` in a `redis-sentinel://` URL).
        public var masterName: String
        public var primaryPort: Int
        /// How many sentinels must agree that the primary is down before one fails it over.
        public var quorum = 2
        /// How long the primary may not answer before a sentinel thinks it down. Keep it above 1 s
        /// and a round trip: after a failover a sentinel gives the new primary this long to answer
        /// a PING, counted from the switch, but reconnects only a second after its last attempt
        /// (at the dead primary). At 1 s the new primary was sometimes thought down at once and
        /// failed over again.
        public var downAfter: Duration = .seconds(2)
        public var failoverTimeout: Duration = .seconds(10)
        /// The data nodes' user and password the sentinel logs in with (`sentinel auth-user/auth-pass`).
        public var user: String?
        public var password: String?
        /// The sentinels' own password (`requirepass`), which they also use with each other.
        public var sentinelPassword: String?

        public init(masterName: String, primaryPort: Int) {
            self.masterName = masterName
            self.primaryPort = primaryPort
        }
    }

    public let port: Int
    public let directory: URL
    public let process: ChildProcess

    /// Writes the configuration when the directory has none yet, starts the sentinel and waits until
    /// it answers.
    public init(port: Int, directory: URL, watch: Watch, timeout: Duration = .seconds(10)) async throws {
        self.port = port
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configuration = directory.appendingPathComponent("sentinel.conf")
        if !FileManager.default.fileExists(atPath: configuration.path) {
            let text = Self.configuration(port: port, directory: directory, watch: watch)
            guard
                FileManager.default.createFile(
                    atPath: configuration.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            else { throw ChildProcessError(description: "cannot write \(configuration.path)") }
        }
        process = try ChildProcess(executable: try Executables.find("redis-sentinel").path, arguments: [configuration.path])
        guard await RedisServerProcess.waitUntilReady(port: port, timeout: timeout) else {
            process.signal(SIGKILL)
            _ = await process.exit(within: .seconds(5))
            throw ChildProcessError(description: "redis-sentinel did not start on port \(port); see \(directory.path)/sentinel.log")
        }
    }

    static func configuration(port: Int, directory: URL, watch: Watch) -> String {
        let name = watch.masterName
        var lines = [
            "port \(port)", "bind 127.0.0.1", "daemonize no", "dir \(directory.path)",
            "logfile \(directory.appendingPathComponent("sentinel.log").path)",
            "sentinel monitor \(name) 127.0.0.1 \(watch.primaryPort) \(watch.quorum)",
            "sentinel down-after-milliseconds \(name) \(watch.downAfter.milliseconds)",
            "sentinel failover-timeout \(name) \(watch.failoverTimeout.milliseconds)",
            "sentinel parallel-syncs \(name) 1",
        ]
        if let user = watch.user { lines.append("sentinel auth-user \(name) \(user)") }
        if let password = watch.password { lines.append("sentinel auth-pass \(name) \(password)") }
        if let password = watch.sentinelPassword { lines += ["requirepass \(password)", "sentinel sentinel-pass \(password)"] }
        return lines.joined(separator: "\n") + "\n"
    }
}
