import Foundation
import ProcessSupport
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The four services as real `bookdelivery` processes on free loopback ports, with a private
/// redis-server and SQLite files in a temporary directory.
final class ServiceCluster: @unchecked Sendable {
    static let services = ["rental", "delivery", "lookup", "notifier"]

    let redis: RedisServer
    let directory: URL
    let executable: String
    /// Set once in `start()` and read-only afterwards; the processes change only from the test's own task.
    private(set) var ports: [String: Int] = [:]
    private var processes: [String: ChildProcess] = [:]

    private init(redis: RedisServer) throws {
        self.redis = redis
        directory = try TemporaryDirectory.make(prefix: "cluster")
        executable = try Self.findExecutable()
        for service in Self.services { ports[service] = try TCPPort.free() }
    }

    static func start() async throws -> ServiceCluster {
        let cluster = try ServiceCluster(redis: try await RedisServer(appendOnly: true))
        for service in services { try await cluster.start(service) }
        return cluster
    }

    deinit {
        for process in processes.values {
            process.signal(SIGKILL)
            process.wait()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The `bookdelivery` binary built next to the test bundle (or BOOKDELIVERY_BIN).
    static func findExecutable() throws -> String {
        if let path = ProcessInfo.processInfo.environment["BOOKDELIVERY_BIN"] { return path }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("bookdelivery").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw TestSupportError("bookdelivery not built next to \(testBinary.path); run `swift build` first or set BOOKDELIVERY_BIN")
    }

    /// Starts a service with flags, except Notifier, which is configured through the environment
    /// (`PORT`, `REDIS_URL`, `DB_PATH`, `CONSUMER_NAME`) so that both ways stay tested.
    func start(_ service: String) async throws {
        guard let port = ports[service] else { throw TestSupportError("no service \(service)") }
        let database = directory.appendingPathComponent("\(service).sqlite").path
        var environment = ProcessInfo.processInfo.environment
        environment["LOG_LEVEL"] = "warning"
        var arguments = [service]
        if service == "notifier" {
            environment["PORT"] = String(port)
            environment["REDIS_URL"] = redis.url
            environment["DB_PATH"] = database
            environment["CONSUMER_NAME"] = "\(service)-1"
        } else {
            arguments += ["--port", String(port), "--redis", redis.url, "--db", database, "--consumer", "\(service)-1"]
        }
        processes[service] = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment,
            logFile: directory.appendingPathComponent("\(service).log").path)
        guard await TCPPort.waitUntilListening(port, timeout: .seconds(30)) else {
            throw TestSupportError("\(service) did not start; see \(directory.path)/\(service).log")
        }
    }

    /// SIGTERM and wait: the graceful stop the operator does.
    func stop(_ service: String) async {
        processes[service]?.signal(SIGTERM)
        _ = await processes[service]?.exit(within: .seconds(10))
        processes[service] = nil
    }

    func url(_ service: String, _ path: String) -> URL {
        URL(string: "http://127.0.0.1:\(ports[service] ?? 0)\(path)")!
    }

    /// A plain-text answer, e.g. `/metrics`.
    func text(_ service: String, _ path: String) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: url(service, path))
        return String(decoding: data, as: UTF8.self)
    }

    /// Sends `body` as JSON and decodes the answer as `T`; returns the status too.
    func request<T: Decodable>(
        _ service: String, _ method: String, _ path: String, body: [String: any Sendable]? = nil, as _: T.Type = T.self
    ) async throws -> (status: Int, body: T) {
        var request = URLRequest(url: url(service, path))
        request.httpMethod = method
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        do {
            return (status, try JSONDecoder().decode(T.self, from: data))
        } catch {
            throw TestSupportError("\(method) \(path) answered \(status), not a \(T.self): \(String(decoding: data, as: UTF8.self))")
        }
    }

    /// Like ``request(_:_:_:body:as:)`` for a call that must succeed: any other status throws.
    func fetch<T: Decodable>(_ service: String, _ path: String, as type: T.Type = T.self) async throws -> T {
        try await fetch(service, "GET", path, as: type)
    }

    func fetch<T: Decodable>(
        _ service: String, _ method: String, _ path: String, body: [String: any Sendable]? = nil, as type: T.Type = T.self
    )
        async throws -> T
    {
        let (status, answer) = try await request(service, method, path, body: body, as: type)
        guard (200..<300).contains(status) else { throw TestSupportError("\(method) \(path) answered \(status)") }
        return answer
    }
}

/// The body of every error answer.
struct ErrorBody: Decodable {
    var error: String
}
