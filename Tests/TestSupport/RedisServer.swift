import Foundation
import ProcessSupport
import Redis
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private `redis-server` for one test: a free loopback port, its own temporary directory,
/// never the shared 6379. It can be killed (`SIGKILL`) and started again on the same port and
/// directory, which is how tests simulate a Redis crash with AOF recovery.
public final class RedisServer: Sendable {
    public let port: Int
    public let directory: URL
    /// redis-server's arguments beyond port, directory and log: persistence and any extras.
    private let arguments: [String]
    private let server = Mutex<RedisServerProcess?>(nil)

    /// - Parameters:
    ///   - appendFsync: `always` makes every acknowledged write durable, which a crash test needs to
    ///     assert "nothing acknowledged is lost"; `everysec` is what production uses.
    ///   - extraArguments: e.g. `["--requirepass", "secret"]`.
    public init(appendOnly: Bool = false, appendFsync: String = "everysec", extraArguments: [String] = []) async throws {
        port = try TCPPort.free()
        directory = try TemporaryDirectory.make(prefix: "redis")
        arguments = ["--save", "", "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", appendFsync] + extraArguments
        try await start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    public var url: String { "redis://127.0.0.1:\(port)" }
    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    public func start() async throws {
        let process = try await RedisServerProcess(port: port, directory: directory, arguments: arguments)
        server.withLock { $0 = process }
        LiveServers.add(process.process.pid)
    }

    /// `kill -9`: no chance to write anything more than what AOF already has.
    public func kill() { end(with: SIGKILL) }

    public func stop() { end(with: SIGTERM) }

    /// `SIGSTOP` / `SIGCONT`: a server that holds its connections but answers nothing meanwhile.
    public func pause() { server.withLock { $0?.process.signal(SIGSTOP) } }
    public func resume() { server.withLock { $0?.process.signal(SIGCONT) } }

    private func end(with signal: Int32) {
        let running = server.withLock { server -> RedisServerProcess? in
            defer { server = nil }
            return server
        }
        guard let process = running?.process else { return }
        process.signal(signal)
        process.wait()  // redis-server exits at once on either signal
        LiveServers.remove(process.pid)
    }

    /// Runs one command on a short-lived connection; for test set-up and assertions.
    public func command(_ arguments: [String]) throws -> RedisReply {
        try RedisConnection(endpoint: endpoint).command(arguments)
    }
}

/// The redis-servers this process started and has not stopped: killed when the test process exits,
/// so that a test case XCTest keeps alive (or a crash) leaves no server behind.
enum LiveServers {
    private static let pids = Mutex<Set<pid_t>>([])
    private static let registerExitHandler: Void = { atexit { LiveServers.killAll() } }()

    static func add(_ pid: pid_t) {
        _ = registerExitHandler
        pids.withLock { _ = $0.insert(pid) }
    }

    static func remove(_ pid: pid_t) {
        pids.withLock { _ = $0.remove(pid) }
    }

    static func killAll() {
        for pid in pids.withLock({ $0 }) { Glibc.kill(pid, SIGKILL) }
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
