import Bus
import ProcessSupport
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A private `redis-server` for one test: a free loopback port, its own temporary directory,
/// never the shared 6379. It can be killed (`SIGKILL`) and started again on the same port and
/// directory, which is how tests simulate a Redis crash with AOF recovery.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    public let appendOnly: Bool
    /// `always` makes every acknowledged write durable, which a crash test needs to assert "nothing
    /// acknowledged is lost"; `everysec` is what production uses.
    public let appendFsync: String
    /// Extra `redis-server` arguments, e.g. `["--requirepass", "secret"]`.
    public let extraArguments: [String]
    private var process: ChildProcess?

    public init(appendOnly: Bool = false, appendFsync: String = "everysec", extraArguments: [String] = []) throws {
        self.port = try FreePort.find()
        self.directory = try TemporaryDirectory.make(prefix: "redis")
        self.appendOnly = appendOnly
        self.appendFsync = appendFsync
        self.extraArguments = extraArguments
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    public var url: String { "redis://127.0.0.1:\(port)" }
    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    public func start() throws {
        let arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path,
            "--save", "", "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", appendFsync,
            "--daemonize", "no", "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + extraArguments
        let process = try ChildProcess(executable: try Executables.find("redis-server").path, arguments: arguments)
        self.process = process
        LiveServers.add(process.pid)
        try waitUntilReady()
    }

    /// `kill -9`: no chance to write anything more than what AOF already has.
    public func kill() {
        guard let process else { return }
        process.signal(SIGKILL)
        process.wait()
        LiveServers.remove(process.pid)
        self.process = nil
    }

    public func stop() {
        guard let process else { return }
        process.signal(SIGTERM)
        process.wait()
        LiveServers.remove(process.pid)
        self.process = nil
    }

    /// Runs one command on a short-lived connection; for test set-up and assertions.
    public func command(_ arguments: [String]) throws -> RedisReply {
        let connection = try RedisConnection(endpoint: endpoint)
        return try connection.command(arguments)
    }

    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            // PONG, or NOAUTH from a server that wants a password; not LOADING while it reads its AOF.
            switch try? RedisConnection(endpoint: endpoint).command(["PING"]) {
            case .status("PONG")?: return
            case .error(let message)? where message.hasPrefix("NOAUTH"): return
            default: break
            }
            usleep(20_000)
        }
        throw TestSupportError("redis-server did not start on port \(port); see \(directory.path)/redis.log")
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

public enum FreePort {
    /// Asks the kernel for a free loopback port by binding port 0.
    public static func find() throws -> Int {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw TestSupportError("socket() failed") }
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestSupportError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public enum TemporaryDirectory {
    public static func make(prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bookdelivery-\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

public enum Executables {
    /// Finds a program on PATH (and in /usr/sbin, /usr/bin where Debian puts redis-server).
    public static func find(_ name: String) throws -> URL {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/bin:/usr/sbin:/usr/local/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw TestSupportError("\(name) not found on PATH; the test command installs it (see README)")
    }
}

extension Logger {
    /// A logger for tests: warnings and worse only, so test output stays readable.
    public static func test(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        return logger
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. For waiting on
/// eventual effects, never for asserting speed.
public func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(25))
    }
    return try await condition()
}
