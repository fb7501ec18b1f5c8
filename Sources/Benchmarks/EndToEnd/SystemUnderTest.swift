import Bus
import Contracts
import Foundation
import Identity
import Logging
import Primitives
import ProcessSupport
import Redis

#if canImport(Glibc)
    import Glibc
#endif

/// The four services and the gateway as real processes of the release `bookdelivery`, on a private
/// redis-server and SQLite files in a temporary directory, with keys of their own: the system as it
/// is deployed, minus the network.
final class SystemUnderTest: @unchecked Sendable {
    struct Process {
        let name: String
        let child: ChildProcess
        let port: Int
        /// From just before `posix_spawn` to the first 200 from `/ready`.
        let readyAfter: Duration
    }

    let directory: URL
    let executable: String
    let redis: RedisServerProcess
    let redisClient: RedisClient
    let keys: KeyDirectory
    let durability: String
    /// The gateway's `--concurrency-limit`: adaptive or fixed (at its default `--max-concurrent`).
    let gatewayLimit: String
    private(set) var processes: [String: Process] = [:]

    init(executable: String, durability: String, gatewayLimit: String) async throws {
        self.executable = executable
        self.durability = durability
        self.gatewayLimit = gatewayLimit
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bookdelivery-e2e-\(UUIDv7.string().suffix(12))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        redis = try await Baselines.privateRedis(name: "bookdelivery-e2e-redis")
        var logger = Logger(label: "benchmark")
        logger.logLevel = .error
        redisClient = RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: redis.port), logger: logger)
        keys = KeyDirectory(path: directory.appendingPathComponent("keys").path)
        _ = try keys.create()
    }

    /// Starts `service` (`rental`, `delivery`, `lookup`, `notifier`) or the gateway as `name` (its
    /// consumer name and database file) and waits until it is ready.
    @discardableResult
    func start(_ service: String, as name: String? = nil, extra: [String] = [], environment extraEnvironment: [String: String] = [:])
        async throws -> Process
    {
        let name = name ?? service
        let port = try TCPPort.free()
        var arguments = [service, "--port", String(port), "--keys", keys.path, "--drain", "0"]
        if service == "gateway" {
            arguments += ServiceNames.all.flatMap { ["--\($0)", "http://127.0.0.1:\(processes[$0]!.port)"] }
            arguments += ["--concurrency-limit", gatewayLimit]
        } else {
            arguments += [
                "--redis", redis.url, "--db", directory.appendingPathComponent("\(name).sqlite").path, "--consumer", name,
                "--durability", durability,
            ]
        }
        var environment = ProcessInfo.processInfo.environment
        environment["LOG_LEVEL"] = environment["LOG_LEVEL"] ?? "warning"
        environment.merge(extraEnvironment) { $1 }
        let started = ContinuousClock.now
        let child = try ChildProcess(
            executable: executable, arguments: arguments + extra, environment: environment,
            logFile: directory.appendingPathComponent("\(name).log").path)
        let deadline = started + .seconds(30)
        while ContinuousClock.now < deadline {
            if PlainHTTP.get(port: port, path: "/ready")?.status == 200 {
                let process = Process(name: name, child: child, port: port, readyAfter: ContinuousClock.now - started)
                processes[name] = process
                return process
            }
            guard child.isRunning else { break }
            usleep(500)
        }
        child.signal(SIGKILL)
        throw BenchmarkError("\(name) did not get ready; see \(directory.path)/\(name).log")
    }

    func stop(_ name: String) async {
        guard let process = processes.removeValue(forKey: name) else { return }
        process.child.signal(SIGTERM)
        if !(await process.child.exit(within: .seconds(10))) { process.child.signal(SIGKILL) }
        process.child.wait()
    }

    func stopAll() async {
        for name in processes.keys { await stop(name) }
        redisClient.close()
        redis.process.signal(SIGKILL)
        redis.process.wait()
    }

    /// The work directory and Redis's, once every process is stopped: a run leaves ~0.5 GB there.
    func removeFiles() {
        try? FileManager.default.removeItem(at: directory)
        Baselines.removeFiles(of: redis)
    }

    func port(_ name: String) -> Int { processes[name]!.port }

    // MARK: Probes

    /// CPU seconds (user + system) the process has used so far.
    func cpuSeconds(_ name: String) -> Double {
        processes[name].map { Self.cpuSeconds(pid: $0.child.pid) } ?? 0
    }

    /// A process's user and system CPU seconds so far.
    static func cpuSeconds(pid: pid_t) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return 0
        }
        // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// From `/proc/<pid>/smaps_rollup`: `Pss` (each shared page divided among the processes that map it:
    /// the five share one binary and the Swift runtime) and `Pss_Anon` (the process's own heap and
    /// stacks), in MiB. RSS counts every mapped code page in full.
    func proportionalMiB(_ name: String) -> (pss: Double, anonymous: Double) {
        guard let pid = processes[name]?.child.pid,
            let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)
        else { return (0, 0) }
        func field(_ key: String) -> Double {
            let line = rollup.split(separator: "\n").first { $0.hasPrefix(key + ":") }
            return (line.flatMap { Double($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0) / 1024
        }
        return (field("Pss"), field("Pss_Anon"))
    }

    /// How the process has the Swift runtime: "static" when it maps no `libswiftCore.so` (built with
    /// `--static-swift-stdlib`, as the container image is), else "shared".
    func swiftRuntimeLinkage(_ name: String) -> String {
        guard let pid = processes[name]?.child.pid, let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else {
            return "unknown"
        }
        return maps.contains("libswiftCore.so") ? "shared" : "static"
    }

    /// Resident memory in MiB.
    func residentMiB(_ name: String) -> Double {
        guard let pid = processes[name]?.child.pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Double(line.split(separator: " ")[1]) ?? 0) / 1024
    }

    /// `bus_event_age_seconds` of `group` for events of `type`, from the service's `/metrics`.
    func eventAges(service: String, group: String, type: String) -> BucketCounts {
        guard let text = PlainHTTP.get(port: port(service), path: "/metrics")?.body else { return BucketCounts() }
        return BucketCounts(prometheus: text, metric: "bus_event_age_seconds", labels: ["group": group, "type": type])
    }

    /// Hummingbird's `http.server.request.duration` of `service` for one route and status, from its
    /// `/metrics`: the time from its middleware taking the request to the answer, without the
    /// socket's and the parser's queues.
    func requestDurations(service: String, method: String, route: String, status: Int) -> BucketCounts {
        guard let text = PlainHTTP.get(port: port(service), path: "/metrics")?.body else { return BucketCounts() }
        return BucketCounts(
            prometheus: text, metric: "http_server_request_duration",
            labels: ["http_request_method": method, "http_route": route, "http_response_status_code": String(status)])
    }

    /// The values of some series of `service`'s `/metrics`, from one scrape, each named as it is
    /// written there (`name{label="value"}`); those absent are left out.
    func metrics(_ service: String, series: Set<String>) -> [String: Double] {
        guard let text = PlainHTTP.get(port: port(service), path: "/metrics")?.body else { return [:] }
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            guard let space = line.lastIndex(of: " "), series.contains(String(line[..<space])) else { continue }
            values[String(line[..<space])] = Double(line[line.index(after: space)...])
        }
        return values
    }

    /// Waits until every consumer group has read and acknowledged everything; returns how long that took.
    /// Waits until every group has finished every entry and every outbox is empty: the work the
    /// orders set off is done. (`XINFO GROUPS`'s `lag` alone said 0 while the consumers were still
    /// far behind: Redis cannot count it once the trimmer has removed entries, and an event still in
    /// an outbox is in no stream yet.)
    func waitForConsumers(timeout: Duration = .seconds(120)) async throws -> Duration {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            let groups = try await GroupLag.read(client: redisClient).groups
            if groups.allSatisfy({ $0.pending == 0 && $0.oldestUnfinishedAge == 0 }),
                ServiceNames.all.allSatisfy({ outboxBacklog($0) == 0 })
            {
                return ContinuousClock.now - start
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchmarkError("the consumers did not catch up within \(timeout)")
    }

    /// Events in `service`'s outbox not yet published (its `bus_outbox_backlog_entries`); nil when unreadable.
    private func outboxBacklog(_ service: String) -> Double? {
        guard let text = PlainHTTP.get(port: port(service), path: "/metrics")?.body else { return nil }
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix("bus_outbox_backlog_entries") {
            total += line.split(separator: " ").last.flatMap { Double($0) } ?? 0
        }
        return total
    }
}

/// Cumulative Prometheus histogram buckets (upper bound in seconds → count), and percentiles read
/// from them by linear interpolation within a bucket.
struct BucketCounts: Sendable {
    var buckets: [(bound: Double, count: Double)] = []

    init() {}

    init(prometheus text: String, metric: String, labels: [String: String]) {
        let prefix = metric + "_bucket{"
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            guard let close = line.lastIndex(of: "}") else { continue }
            let labelText = line[line.index(line.startIndex, offsetBy: prefix.count)..<close]
            var found: [String: String] = [:]
            for pair in labelText.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { found[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            }
            guard labels.allSatisfy({ found[$0.key] == $0.value }), let le = found["le"],
                let count = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
            else { continue }
            buckets.append((le == "+Inf" ? .infinity : Double(le) ?? .infinity, count))
        }
        buckets.sort { $0.bound < $1.bound }
    }

    var total: Double { buckets.last?.count ?? 0 }

    /// What was recorded since `earlier`.
    func since(_ earlier: BucketCounts) -> BucketCounts {
        var difference = BucketCounts()
        let before = Dictionary(earlier.buckets.map { ($0.bound, $0.count) }, uniquingKeysWith: { $1 })
        difference.buckets = buckets.map { ($0.bound, $0.count - (before[$0.bound] ?? 0)) }
        return difference
    }

    /// The `percentile` (0–100) in milliseconds; nil without observations.
    func percentile(_ percentile: Double) -> Double? {
        guard total > 0 else { return nil }
        let rank = total * percentile / 100
        var previous = (bound: 0.0, count: 0.0)
        for bucket in buckets {
            if bucket.count >= rank {
                guard bucket.bound.isFinite else { return previous.bound * 1000 }
                let share = bucket.count == previous.count ? 1 : (rank - previous.count) / (bucket.count - previous.count)
                return (previous.bound + (bucket.bound - previous.bound) * share) * 1000
            }
            previous = bucket
        }
        return previous.bound * 1000
    }
}

/// Blocking HTTP/1.1 GET with `Connection: close`, for probes between measurements.
enum PlainHTTP {
    static func get(port: Int, path: String, timeout: Duration = .seconds(2)) -> (status: Int, body: String)? {
        guard let socketFD = TCPPort.connect(to: port) else { return nil }
        defer { close(socketFD) }
        var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard send(socketFD, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return nil }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(socketFD, &buffer, buffer.count, 0)
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first, statusLine.split(separator: " ").count >= 2,
            let status = Int(statusLine.split(separator: " ")[1])
        else { return nil }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
