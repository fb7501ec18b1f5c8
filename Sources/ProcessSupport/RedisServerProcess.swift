import Foundation
import Redis

#if canImport(Glibc)
    import Glibc
#endif

/// A `redis-server` child process on a loopback port with its own directory: `bookdelivery up`
/// runs one for a local try-out, the benchmark and the tests one each.
public final class RedisServerProcess: Sendable {
    public let port: Int
    public let directory: URL
    public let process: ChildProcess

    /// Starts redis-server with `arguments` added to the port, directory, log file and foreground
    /// settings, and waits until it answers (not while it loads its AOF). `configurationFile`: read
    /// first, for what must not show on a command line (a replica's password to its primary).
    public init(port: Int, directory: URL, configurationFile: String? = nil, arguments: [String], timeout: Duration = .seconds(10))
        async throws
    {
        self.port = port
        self.directory = directory
        let all =
            (configurationFile.map { [$0] } ?? [])
            + [
                "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--daemonize", "no",
                "--logfile", directory.appendingPathComponent("redis.log").path,
            ] + arguments
        process = try ChildProcess(executable: try Executables.find("redis-server").path, arguments: all)
        guard await Self.waitUntilReady(port: port, timeout: timeout) else {
            process.signal(SIGKILL)
            _ = await process.exit(within: .seconds(5))
            throw ChildProcessError(description: "redis-server did not start on port \(port); see \(directory.path)/redis.log")
        }
    }

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// PONG, or NOAUTH from a server that wants a password; not LOADING while it reads its AOF.
    static func waitUntilReady(port: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: port, timeout: .milliseconds(500))
        while ContinuousClock.now < deadline {
            switch try? RedisConnection(endpoint: endpoint).command(["PING"]) {
            case .status("PONG")?: return true
            case .error(let message)? where message.hasPrefix("NOAUTH"): return true
            default: break
            }
            guard (try? await Task.sleep(for: .milliseconds(20))) != nil else { return false }
        }
        return false
    }
}
