import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ProcessSupport
import TestSupport
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
    private(set) var ports: [String: Int] = [:]
    private var processes: [String: ChildProcess] = [:]

    init() throws {
        redis = try RedisServer(appendOnly: true)
        directory = try TemporaryDirectory.make(prefix: "cluster")
        executable = try Self.findExecutable()
        for service in Self.services {
            ports[service] = try FreePort.find()
            try start(service)
        }
    }

    deinit {
        for process in processes.values { process.signal(SIGKILL); process.wait() }
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
    func start(_ service: String) throws {
        let port = ports[service]!
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
        guard TCPPort.waitUntilListening(port, timeout: .seconds(30)) else {
            throw TestSupportError("\(service) did not start; see \(directory.path)/\(service).log")
        }
    }

    /// SIGTERM and wait: the graceful stop the operator does.
    func stop(_ service: String) {
        processes[service]?.signal(SIGTERM)
        _ = processes[service]?.wait(timeout: .seconds(10))
        processes[service] = nil
    }

    func url(_ service: String, _ path: String) -> URL {
        URL(string: "http://127.0.0.1:\(ports[service]!)\(path)")!
    }

    struct Response {
        var status: Int
        var json: Any?
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
    }

    /// A plain-text answer, e.g. `/metrics`.
    func text(_ service: String, _ path: String) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: url(service, path))
        return String(decoding: data, as: UTF8.self)
    }

    @discardableResult
    func request(_ service: String, _ method: String, _ path: String, body: [String: Any]? = nil) async throws -> Response {
        var request = URLRequest(url: url(service, path))
        request.httpMethod = method
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return Response(status: status, json: data.isEmpty ? nil : try? JSONSerialization.jsonObject(with: data))
    }
}
