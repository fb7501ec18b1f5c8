import ArgumentParser
import Foundation
import Gateway
import Identity
import ProcessSupport
import ServiceKit
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
            If a part stops by itself, `up` stops the rest and fails.
            """)

    @Option(help: "Use this Redis instead of starting one.") var redis: String?
    @Option(
        help: """
            Port of the redis-server that `up` starts (default 6379, or the next free port from 6380 when 6379 is taken, \
            e.g. by Debian's own redis-server service).
            """)
    var redisPort: Int?
    @Option(help: "Where Redis and the services keep their data.") var data = "./.data"
    @Option(
        name: .customLong("port"),
        help: "A port instead of the default, as name=port for gateway or a service (repeatable), e.g. --port gateway=9080.")
    var portOverrides: [String] = []

    /// Each service, then the gateway, with the port it gets: its default, or the one given with --port.
    private func ports() throws -> [(name: String, port: Int)] {
        let defaults = Services.all + [(GatewayApplication.name, GatewayApplication.defaultPort)]
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
        let services = all.filter { $0.name != GatewayApplication.name }
        let gatewayPort = all.first { $0.name == GatewayApplication.name }!.port
        let dataDirectory = URL(fileURLWithPath: data).standardizedFileURL
        // Databases, the AOF, keys and secrets live here: only this user may read them.
        try Self.makePrivateDirectory(dataDirectory)
        for entry in all where TCPPort.isListening(entry.port) {
            throw ValidationError("port \(entry.port) (\(entry.name)) is already in use: is bookdelivery already up?")
        }

        let keys = KeyDirectory(path: dataDirectory.appendingPathComponent("keys").path)
        if !keys.exists {
            try keys.create()
            say("created signing keys in \(keys.path)")
        }

        var redisServer: RedisServerProcess?
        /// Each service's Redis URL and the file its password is in (none for a Redis given with --redis).
        var redisURL: (String) -> String = { _ in self.redis ?? "" }
        var passwordFile: (String) -> String? = { _ in nil }
        var operatorHint = "bookdelivery streams --redis \(redis ?? "")"
        if redis == nil {
            let secrets = dataDirectory.appendingPathComponent("secrets")
            let redisDirectory = dataDirectory.appendingPathComponent("redis")
            try Self.makePrivateDirectory(secrets)
            try Self.makePrivateDirectory(redisDirectory)
            let passwords = try RedisUsers.writeFiles(in: secrets)
            let aclFile = redisDirectory.appendingPathComponent("users.acl")
            try PrivateFile.write(Data(RedisUsers.aclFile(passwords: passwords).utf8), to: aclFile.path)
            let server = try await RedisServerProcess(
                port: try chooseRedisPort(), directory: redisDirectory,
                arguments: ["--appendonly", "yes", "--appendfsync", "everysec", "--aclfile", aclFile.path])
            redisServer = server
            let port = server.port
            redisURL = { user in "redis://\(user)@127.0.0.1:\(port)" }
            passwordFile = { user in secrets.appendingPathComponent("\(user).password").path }
            operatorHint = "bookdelivery streams --redis \(redisURL("operator")) --redis-password-file \(passwordFile("operator")!)"
            say("redis-server on 127.0.0.1:\(port) (AOF and users.acl in \(redisDirectory.path); a user per service, default user off)")
        }

        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let environment = ProcessInfo.processInfo.environment.merging([ParentWatch.variable: String(getpid())]) { $1 }
        var children: [(name: String, process: ChildProcess)] = []
        for service in services {
            var arguments = [
                // No drain: Ctrl-C on a try-out should stop at once.
                service.name, "--port", String(service.port), "--redis", redisURL(service.name), "--keys", keys.path, "--drain", "0",
                "--db", dataDirectory.appendingPathComponent("\(service.name).sqlite").path, "--consumer", "\(service.name)-1",
            ]
            if let file = passwordFile(service.name) { arguments += ["--redis-password-file", file] }
            let process = try ChildProcess(executable: executable, arguments: arguments, environment: environment, inheritOutput: true)
            children.append((service.name, process))
        }
        /// Waits for a part to start; when it does not, stops what was started and fails.
        func waitForStart(of name: String, _ process: ChildProcess, on port: Int) async throws {
            do {
                try await Self.waitForStart(of: name, process, on: port)
            } catch {
                await Self.stop(children, redisServer)
                throw error
            }
        }
        for (service, child) in zip(services, children) { try await waitForStart(of: service.name, child.process, on: service.port) }
        let instance = { (name: String) in "http://127.0.0.1:\(services.first { $0.name == name }!.port)" }
        var gatewayArguments = [
            "gateway", "--port", String(gatewayPort), "--keys", keys.path, "--drain", "0", "--rental", instance("rental"),
            "--delivery", instance("delivery"), "--lookup", instance("lookup"), "--notifier", instance("notifier"), "--demo",
            "--redis", redisURL("gateway"),
        ]
        if let file = passwordFile("gateway") { gatewayArguments += ["--redis-password-file", file] }
        let gateway = try ChildProcess(executable: executable, arguments: gatewayArguments, environment: environment, inheritOutput: true)
        children.append((GatewayApplication.name, gateway))
        try await waitForStart(of: GatewayApplication.name, gateway, on: gatewayPort)
        let issuer = try keys.issuer()
        let lifetime = Duration.seconds(8 * 3600)
        var tokens: [String] = []
        for (variable, subject, role) in [
            ("ALICE", "alice", Role.customer), ("BOB", "bob", .customer), ("COURIER", "courier-1", .courier), ("ADMIN", "admin", .admin),
        ] {
            tokens.append("  export \(variable)=\(try await issuer.token(subject: subject, role: role, lifetime: lifetime))")
        }
        let lines = services.map { "\($0.name) on \($0.port)" }.joined(separator: ", ")
        say(
            """

            bookdelivery is up: http://127.0.0.1:\(gatewayPort)  (the gateway; behind it \(lines))
            Web app: http://127.0.0.1:\(gatewayPort)/  (demo sign-in: alice, bob, courier-1, admin)   API: http://127.0.0.1:\(gatewayPort)/openapi.json
            Tokens for customers alice and bob, a courier and an admin (valid 8 h; more with `bookdelivery token --keys \(keys.path)`):
            \(tokens.joined(separator: "\n"))
            Try:  curl -s http://127.0.0.1:\(gatewayPort)/books
            Streams:  \(operatorHint)
            Press Ctrl-C to stop.

            """)

        // Until Ctrl-C, or until a part stops by itself: then the rest stop too, and `up` fails.
        let watched = children + (redisServer.map { [("redis-server", $0.process)] } ?? [])
        let exited = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                for await _ in signals { break }
                return nil
            }
            group.addTask { await Self.firstExit(of: watched) }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let exited { say("\(exited) stopped by itself (its log is above): stopping the rest") }
        await Self.stop(children, redisServer)
        if let exited { throw UpError(description: "\(exited) stopped by itself") }
    }

    /// Waits until `process` listens on `port`; fails as soon as it exits, or after 20 s.
    private static func waitForStart(of name: String, _ process: ChildProcess, on port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !TCPPort.isListening(port) {
            guard process.isRunning else { throw UpError(description: "\(name) stopped while starting (its log is above)") }
            guard ContinuousClock.now < deadline else { throw UpError(description: "\(name) did not listen on port \(port) within 20 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The name of the first of `processes` to exit; nil when cancelled first.
    private static func firstExit(of processes: [(name: String, process: ChildProcess)]) async -> String? {
        while true {
            if let exited = processes.first(where: { !$0.process.isRunning }) { return exited.name }
            guard (try? await Task.sleep(for: .milliseconds(200))) != nil else { return nil }
        }
    }

    /// Stops the children, the gateway first, then the redis-server `up` started.
    private static func stop(_ children: [(name: String, process: ChildProcess)], _ redisServer: RedisServerProcess?) async {
        say("stopping the services...")
        for child in children.reversed() { child.process.signal(SIGTERM) }
        for child in children where !(await child.process.exit(within: .seconds(10))) {
            say("\(child.name) did not stop in 10 s; killing it")
            child.process.signal(SIGKILL)
            _ = await child.process.exit(within: .seconds(5))
        }
        if let redisServer {
            redisServer.process.signal(SIGTERM)
            _ = await redisServer.process.exit(within: .seconds(10))
        }
        say("stopped")
    }

    private static func makePrivateDirectory(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: url.path)
    }
}

struct UpError: Error, CustomStringConvertible {
    let description: String
}

/// Prints and flushes at once, so that our lines keep their place among the services' logs even
/// when the output goes to a file.
private func say(_ text: String) {
    print(text)
    fflush(nil)
}
