import ArgumentParser
import AsyncHTTPClient
import Foundation
import Gateway
import Identity
import Logging
import ProcessSupport
import ServiceKit
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// `bookdelivery up`: Redis (unless one is given), the four services and the gateway, for a local
/// try-out, with keys, Redis users and tokens made on the way.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start everything locally: redis-server, the four services and the gateway on port 8080. Ctrl-C stops it all.",
        discussion: """
            On the first run it creates in --data: signing keys (keys/), a Redis user per service with a random password \
            (secrets/, mode 0600; redis/users.acl), and it prints tokens for customers alice and bob, a courier and an admin.
            It supervises what it started: a part that exits, or whose /live fails 3 checks in a row, is killed if still \
            there and restarted (backoff 0.5 s doubling to 30 s); the rest keeps serving. With --restart never, a part \
            that stops by itself stops everything and `up` fails. `bookdelivery ctl --data DIR` controls it while it runs.
            """)

    @Option(help: "Use this Redis instead of starting one.") var redis: String?
    @Option(
        help: """
            Port of the redis-server that `up` starts (default 6379, or the next free port from 6380 when 6379 is taken, \
            e.g. by Debian's own redis-server service).
            """)
    var redisPort: Int?
    @Option(
        help: """
            Also start this many replicas of `up`'s redis-server and three Redis Sentinels (Debian's redis-sentinel), which \
            promote a replica when the primary dies; every part then follows the primary through the sentinels. \
            `ctl stop redis` kills the primary to watch it (default 0: one redis-server).
            """)
    var redisReplicas = 0
    @Option(help: "Where Redis and the services keep their data.") var data = "./.data"
    @Option(
        name: .customLong("port"),
        help: "A port instead of the default, as name=port for gateway or a service (repeatable), e.g. --port gateway=9080.")
    var portOverrides: [String] = []
    @Option(help: "always: restart a part that exits or whose /live fails; never: stop everything when a part stops by itself.")
    var restart: Supervisor.RestartPolicy = .always
    @Option(
        help: """
            The gateway's requests per second per customer (0: off; default 50). Raise it, or turn it off, to watch load \
            shedding and the breakers under load rather than the rate limit.
            """)
    var rateLimit: Double = 50
    @Option(help: "The gateway's requests in flight per pool before it sheds load with 503 (default 64).") var maxConcurrent = 64
    @Option(help: "adaptive: the gateway learns each pool's limit from latency, up to --max-concurrent; fixed: it keeps it there.")
    var concurrencyLimit = GatewayCommand.LimitMode.adaptive
    @Flag(
        help: """
            Also start Debian's prometheus (port 9090) and prometheus-alertmanager (9093), when installed: every part \
            scraped every 5 s, the alert rules loaded, alerts printed here as they fire and resolve.
            """)
    var monitoring = false
    @Option(help: "The alert rules Prometheus loads under --monitoring.") var alertRules = "ops/monitoring/alerts.yml"
    @Option(
        help: """
            How often Rental, Delivery and Notifier back their databases up into <data>/backups, the newest 8 kept, \
            e.g. 15m, 1h; 0 for never (default 15m).
            """)
    var backupEvery = "15m"

    /// Each service, then the gateway, with the port it gets: its default, or the one given with --port.
    private func ports() throws -> [(name: String, port: Int)] {
        let defaults =
            Services.all + [(GatewayApplication.name, GatewayApplication.defaultPort)] + (monitoring ? UpMonitoring.defaultPorts : [])
        var overrides: [String: Int] = [:]
        for text in portOverrides {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, defaults.contains(where: { $0.name == parts[0] }), let port = Int(parts[1]),
                (1...65535).contains(port)
            else {
                throw ValidationError(
                    "--port takes name=port with a name of \(defaults.map(\.name).joined(separator: ", ")), e.g. gateway=9080")
            }
            overrides[parts[0]] = port
        }
        let ports = defaults.map { (name: $0.name, port: overrides[$0.name] ?? $0.port) }
        // One port, one server: the second to bind it would fail to start.
        let named = ports + (redisPort.map { [(name: "redis", port: $0)] } ?? [])
        for (index, entry) in named.enumerated() {
            if let other = named[..<index].first(where: { $0.port == entry.port }) {
                throw ValidationError("\(other.name) and \(entry.name) were both given port \(entry.port): give each its own")
            }
        }
        return ports
    }

    /// The asked-for port, which must be free; else 6379, or the first free port after it.
    private func chooseRedisPort() throws -> Int {
        if let redisPort {
            guard !TCPPort.isListening(redisPort) else {
                throw ValidationError(
                    "a server already listens on port \(redisPort): use it with --redis redis://127.0.0.1:\(redisPort), or pick another --redis-port"
                )
            }
            return redisPort
        }
        guard let port = (6379...6399).first(where: { !TCPPort.isListening($0) }) else {
            throw ValidationError("ports 6379 to 6399 are all taken: pick one with --redis-port")
        }
        if port != 6379 { say("port 6379 is taken (a system redis-server?): starting ours on \(port)") }
        return port
    }

    func run() async throws {
        // Trap Ctrl-C first: a signal that comes while things start must still stop them cleanly.
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let all = try ports()
        let monitors = Set(UpMonitoring.defaultPorts.map(\.name))
        let services = all.filter { $0.name != GatewayApplication.name && !monitors.contains($0.name) }
        let gatewayPort = all.first { $0.name == GatewayApplication.name }!.port
        let dataDirectory = URL(fileURLWithPath: data).standardizedFileURL
        // Databases, the AOF, keys, secrets and the control socket: only this user may read them.
        umask(0o077)
        try Self.makePrivateDirectory(dataDirectory)
        for entry in all where TCPPort.isListening(entry.port) {
            if monitors.contains(entry.name) {
                throw ValidationError(
                    "port \(entry.port) (\(entry.name)) is already in use, by Debian's own \(entry.name) service or an earlier up: give --port \(entry.name)=N"
                )
            }
            throw ValidationError("port \(entry.port) (\(entry.name)) is already in use: is bookdelivery already up?")
        }
        guard rateLimit >= 0, rateLimit.isFinite else { throw ValidationError("--rate-limit must be 0 (off) or more") }
        guard maxConcurrent >= 1 else { throw ValidationError("--max-concurrent must be 1 or more") }
        guard (0...5).contains(redisReplicas) else { throw ValidationError("--redis-replicas takes 0 to 5") }
        guard redisReplicas == 0 || redis == nil else {
            throw ValidationError("--redis-replicas is for up's own Redis, not one given with --redis")
        }

        let keys = KeyDirectory(path: dataDirectory.appendingPathComponent("keys").path)
        if !keys.exists {
            try keys.create()
            say("created signing keys in \(keys.path)")
        }
        var monitor: UpMonitoring?
        if monitoring && !UpMonitoring.isInstalled {
            say("--monitoring: Debian's prometheus and prometheus-alertmanager are not installed; going on without them")
        } else if monitoring {
            let port = { (name: String) in all.first { $0.name == name }!.port }
            monitor = try UpMonitoring(
                data: dataDirectory, rules: alertRules, prometheusPort: port(UpMonitoring.prometheus.name),
                alertmanagerPort: port(UpMonitoring.alertmanager.name))
        }
        let parts = try await UpParts(
            redis: redis, redisPort: redis == nil ? try chooseRedisPort() : 0, redisReplicas: redisReplicas,
            portsTaken: Set(all.map(\.port)), data: dataDirectory, keys: keys,
            gateway: [
                "--rate-limit", String(rateLimit), "--max-concurrent", String(maxConcurrent), "--concurrency-limit",
                concurrencyLimit.rawValue,
            ],
            backups: try UpParts.backupFlags(every: backupEvery, data: dataDirectory), monitoring: monitor)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await supervise(
                parts: parts, http: http, services: services, gatewayPort: gatewayPort, ports: Dictionary(uniqueKeysWithValues: all),
                keys: keys, signals: signals)
            try? await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func supervise(
        parts: UpParts, http: HTTPClient, services: [(name: String, port: Int)], gatewayPort: Int, ports: [String: Int],
        keys: KeyDirectory, signals: UnixSignalsSequence
    ) async throws {
        let port = { (name: String) in ports[name] ?? 0 }
        let issuer = try keys.issuer()
        let supervisor = Supervisor(
            launches: parts.launches, policy: restart, instancesFile: parts.instancesFile, targetsFile: parts.monitoring?.targetsFile,
            gatewayPort: gatewayPort, http: http,
            adminToken: { try await issuer.token(subject: "up", role: .admin, lifetime: .seconds(300)) })
        do {
            for part in parts.redisParts { try await supervisor.startFirst(part.name, port: part.port) }
            if let redisPort = parts.redisPort {
                say(
                    "redis-server on 127.0.0.1:\(redisPort) (AOF and users.acl in \(parts.redisDirectory.path); a user per service, default user off)"
                )
            }
            if let group = parts.redisGroup {
                say(
                    "its replicas \(group.nodes.dropFirst().map { "\($0.name) on \($0.port)" }.joined(separator: ", ")); sentinels on "
                        + "\(group.sentinels.map { String($0.port) }.joined(separator: ", ")) watching \(UpRedisGroup.masterName) "
                        + "(`bookdelivery ctl stop redis` kills the primary: watch a replica take over)")
            }
            for service in services { try await supervisor.startFirst(service.name, port: service.port) }
            try await supervisor.startFirst(GatewayApplication.name, port: gatewayPort)
            if let monitoring = parts.monitoring {
                for launch in monitoring.launches { try await supervisor.startFirst(launch.name, port: port(launch.name)) }
            }
        } catch {
            await supervisor.stopAll()
            throw error
        }
        let socket = ControlServer.socketPath(data: data)
        let control = ServiceGroup(
            services: [ControlServer.application(supervisor: supervisor, socket: socket, logger: Logger(label: "bookdelivery.up"))],
            gracefulShutdownSignals: [], logger: Logger(label: "bookdelivery.up"))
        let monitoringHint = parts.monitoring.map { _ in
            "Monitoring:  Prometheus http://127.0.0.1:\(port(UpMonitoring.prometheus.name))/alerts  Alertmanager "
                + "http://127.0.0.1:\(port(UpMonitoring.alertmanager.name))  (alerts are printed here as they fire and resolve)\n"
        }
        let welcome = try await welcome(
            keys: keys, services: services, gatewayPort: gatewayPort, operatorHint: parts.operatorHint + "\n" + (monitoringHint ?? ""))
        let alerts = parts.monitoring.map { _ in
            AlertWatch(alertmanager: "http://127.0.0.1:\(port(UpMonitoring.alertmanager.name))", http: http)
        }

        // Until Ctrl-C; or, with --restart never, until a part stops by itself: then the rest stop too, and `up` fails.
        let failure = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                for await _ in signals { break }
                return nil
            }
            group.addTask { await supervisor.watch() }
            if let alerts {
                group.addTask {
                    await alerts.run()
                    return nil
                }
            }
            group.addTask {
                try? await control.run()
                return nil
            }
            // Up once `ctl` can reach it too (the socket bound, and made the user's alone).
            let deadline = ContinuousClock.now + .seconds(10)
            while (try? FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int) != 0o600,
                ContinuousClock.now < deadline
            {
                try? await Task.sleep(for: .milliseconds(10))
            }
            say(welcome)
            let first = await group.next() ?? nil
            await control.triggerGracefulShutdown()
            group.cancelAll()
            return first
        }
        unlink(socket)
        if let failure { say("\(failure) (its log is above): stopping the rest") }
        await supervisor.stopAll()
        if let failure { throw UpError(description: "\(failure.split(separator: " ").first ?? "a part") stopped by itself") }
    }

    /// What `up` says once everything runs: where, the tokens, how to look and how to control it.
    private func welcome(keys: KeyDirectory, services: [(name: String, port: Int)], gatewayPort: Int, operatorHint: String)
        async throws -> String
    {
        let issuer = try keys.issuer()
        let lifetime = Duration.seconds(8 * 3600)
        var tokens: [String] = []
        for (variable, subject, role) in [
            ("ALICE", "alice", Role.customer), ("BOB", "bob", .customer), ("COURIER", "courier-1", .courier), ("ADMIN", "admin", .admin),
        ] {
            tokens.append("  export \(variable)=\(try await issuer.token(subject: subject, role: role, lifetime: lifetime))")
        }
        let lines = services.map { "\($0.name) on \($0.port)" }.joined(separator: ", ")
        return
            """

            bookdelivery is up: http://127.0.0.1:\(gatewayPort)  (the gateway; behind it \(lines))
            Web app: http://127.0.0.1:\(gatewayPort)/  (demo sign-in: alice, bob, courier-1, admin)   API: http://127.0.0.1:\(gatewayPort)/openapi.json
            Tokens for customers alice and bob, a courier and an admin (valid 8 h; more with `bookdelivery token --keys \(keys.path)`):
            \(tokens.joined(separator: "\n"))
            Try:  curl -s http://127.0.0.1:\(gatewayPort)/books
            Streams:  \(operatorHint)\
            Control:  bookdelivery ctl status --data \(data)   (stop, start, restart, scale NAME=N, redeploy; a part that fails is restarted)
            Press Ctrl-C to stop.

            """
    }

    static func makePrivateDirectory(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: url.path)
    }
}

struct UpError: Error, CustomStringConvertible {
    let description: String
}
