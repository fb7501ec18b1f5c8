import Contracts
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
    static let services = ServiceNames.all

    let redis: RedisServer
    let directory: URL
    let executable: String
    /// Set once in `start()` and read-only afterwards; the processes change only from the test's own task.
    private(set) var ports: [String: Int] = [:]
    private var processes: [String: ChildProcess] = [:]
    /// How each process was started, to start it again the same way.
    private var launches: [String: (arguments: [String], environment: [String: String], log: String)] = [:]
    /// The key directory (made by `bookdelivery keys`) when the cluster checks tokens; nil: --no-auth.
    private(set) var keys: String?
    /// What every process gets for `--drain`: none by default, so that stopping is quick.
    var drain = "0"

    private init(redis: RedisServer) throws {
        self.redis = redis
        directory = try TemporaryDirectory.make(prefix: "cluster")
        executable = try Self.findExecutable()
        for service in Self.services { ports[service] = try TCPPort.free() }
    }

    /// The four services; with `secured`, keys first, and services that check tokens.
    static func start(secured: Bool = false, drain: String = "0") async throws -> ServiceCluster {
        let cluster = try ServiceCluster(redis: try await RedisServer(appendOnly: true))
        cluster.drain = drain
        if secured {
            let keys = cluster.directory.appendingPathComponent("keys").path
            try await cluster.run(["keys", "--dir", keys])
            cluster.keys = keys
        }
        for service in services { try await cluster.start(service) }
        return cluster
    }

    /// Runs a `bookdelivery` command to its end and returns what it printed; throws if it failed.
    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        let output = directory.appendingPathComponent("command-\(UUID().uuidString).out").path
        let process = try ChildProcess(executable: executable, arguments: arguments, logFile: output)
        guard await process.exit(within: .seconds(30)), process.wait() == 0 else {
            throw TestSupportError(
                "bookdelivery \(arguments.first ?? "") failed: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        }
        return try String(contentsOfFile: output, encoding: .utf8)
    }

    /// A token from `bookdelivery token`.
    func token(_ subject: String, _ role: String) async throws -> String {
        try await run(["token", "--keys", keys ?? "", "--subject", subject, "--role", role]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts the gateway in front of the services (one instance each, or those of `instances`)
    /// with `extra` flags; returns its port.
    @discardableResult
    func startGateway(_ extra: [String] = [], instances: [String: [Int]] = [:]) async throws -> Int {
        let port = try TCPPort.free()
        var arguments = ["gateway", "--port", String(port), "--drain", drain] + (keys.map { ["--keys", $0] } ?? ["--no-auth"]) + extra
        for service in Self.services {
            let list = (instances[service] ?? [ports[service]!]).map { "http://127.0.0.1:\($0)" }.joined(separator: ",")
            arguments += ["--\(service)", list]
        }
        var environment = ProcessInfo.processInfo.environment
        environment["LOG_LEVEL"] = "warning"
        ports["gateway"] = port
        try await launch("gateway", port: port, arguments: arguments, environment: environment)
        return port
    }

    /// SIGKILL: a crash.
    func kill(_ service: String) async {
        processes[service]?.signal(SIGKILL)
        _ = await processes[service]?.exit(within: .seconds(10))
        processes[service] = nil
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
        // Without keys the services run --no-auth: these tests are about events, not identities.
        var arguments = [service] + (keys.map { ["--keys", $0] } ?? ["--no-auth"]) + ["--drain", drain]
        if service == "notifier" {
            environment["PORT"] = String(port)
            environment["REDIS_URL"] = redis.url
            environment["DB_PATH"] = database
            environment["CONSUMER_NAME"] = "\(service)-1"
        } else {
            arguments += ["--port", String(port), "--redis", redis.url, "--db", database, "--consumer", "\(service)-1"]
        }
        try await launch(service, port: port, arguments: arguments, environment: environment)
    }

    private func launch(_ name: String, port: Int, arguments: [String], environment: [String: String]) async throws {
        let log = directory.appendingPathComponent("\(name).log").path
        launches[name] = (arguments, environment, log)
        processes[name] = try ChildProcess(executable: executable, arguments: arguments, environment: environment, logFile: log)
        guard await TCPPort.waitUntilListening(port, timeout: .seconds(30)) else {
            throw TestSupportError("\(name) did not start; see \(log)")
        }
    }

    /// SIGTERM, wait for the exit (the drain included), start it again the same way, and wait
    /// until it is ready; returns how long it took to exit.
    @discardableResult
    func restart(_ name: String) async throws -> Duration {
        guard let launch = launches[name], let port = ports[name] else { throw TestSupportError("no process \(name)") }
        let stopping = ContinuousClock.now
        processes[name]?.signal(SIGTERM)
        guard await processes[name]?.exit(within: .seconds(30)) ?? true else { throw TestSupportError("\(name) did not exit") }
        let exited = ContinuousClock.now - stopping
        try await self.launch(name, port: port, arguments: launch.arguments, environment: launch.environment)
        let ready = await eventually(timeout: .seconds(20)) { (try? await self.send(name, "GET", "/ready"))?.status == 200 }
        guard ready else { throw TestSupportError("\(name) did not get ready") }
        return exited
    }

    /// A second instance of `service` (same database, its own port and consumer name), known as
    /// `name`; returns its port.
    @discardableResult
    func startInstance(of service: String, as name: String) async throws -> Int {
        let port = try TCPPort.free()
        ports[name] = port
        var environment = ProcessInfo.processInfo.environment
        environment["LOG_LEVEL"] = "warning"
        let arguments =
            [service] + (keys.map { ["--keys", $0] } ?? ["--no-auth"]) + ["--drain", drain]
            + [
                "--port", String(port), "--redis", redis.url, "--db", directory.appendingPathComponent("\(service).sqlite").path,
                "--consumer", name,
            ]
        try await launch(name, port: port, arguments: arguments, environment: environment)
        return port
    }

    /// Sends `signal` to a process.
    func signal(_ name: String, _ signal: Int32) {
        processes[name]?.signal(signal)
    }

    /// Waits for a process to end; returns whether it did.
    func waitForExit(_ name: String, within timeout: Duration) async -> Bool {
        let exited = await processes[name]?.exit(within: timeout) ?? true
        if exited { processes[name] = nil }
        return exited
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
        _ service: String, _ method: String, _ path: String, body: [String: any Sendable]? = nil, headers: [String: String] = [:],
        as _: T.Type = T.self
    ) async throws -> (status: Int, body: T) {
        var request = URLRequest(url: url(service, path))
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
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

/// One HTTP exchange, as raw as a client sees it.
struct Exchange: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data
    var seconds: Double

    func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }
    var text: String { String(decoding: body, as: UTF8.self) }
    func json() -> Any? { try? JSONSerialization.jsonObject(with: body) }
}

extension ServiceCluster {
    /// A session that opens as many connections as asked (URLSession's default is a handful per host).
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 512
        configuration.timeoutIntervalForRequest = 30
        return URLSession(configuration: configuration)
    }()

    /// `method path` at `target` (a service or "gateway"), with a bearer token and a JSON body.
    func send(
        _ target: String, _ method: String, _ path: String, token: String? = nil, json: [String: any Sendable]? = nil,
        headers: [String: String] = [:]
    ) async throws -> Exchange {
        var request = URLRequest(url: url(target, path))
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let start = ContinuousClock.now
        let (data, response) = try await Self.session.data(for: request)
        let elapsed = ContinuousClock.now - start
        let http = response as? HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http?.allHeaderFields ?? [:] { fields["\(name)"] = "\(value)" }
        return Exchange(
            status: http?.statusCode ?? 0, headers: fields, body: data,
            seconds: elapsed / .seconds(1))
    }
}
