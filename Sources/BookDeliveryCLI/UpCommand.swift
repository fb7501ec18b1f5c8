import ArgumentParser
import Foundation
import ProcessSupport
import ServiceKit
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// `bookdelivery up`: Redis (unless one is given) and the four services, for a local try-out.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start everything locally: a redis-server (AOF on, data in ./.data) and the four services. Ctrl-C stops it all.")

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
        help: "A service's HTTP port instead of its default, as service=port (repeatable), e.g. --port rental=9081.")
    var portOverrides: [String] = []

    /// Each service with the port it gets: its default, or the one given with --port.
    private func servicePorts() throws -> [(name: String, port: Int)] {
        var overrides: [String: Int] = [:]
        for text in portOverrides {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, Services.all.contains(where: { $0.name == parts[0] }), let port = Int(parts[1]),
                (1...65535).contains(port)
            else {
                throw ValidationError(
                    "--port takes service=port with a service of \(Services.all.map(\.name).joined(separator: ", ")), e.g. rental=9081")
            }
            overrides[parts[0]] = port
        }
        return Services.all.map { ($0.name, overrides[$0.name] ?? $0.port) }
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
        let services = try servicePorts()
        let dataDirectory = URL(fileURLWithPath: data).standardizedFileURL
        // Databases, the AOF and (later) secrets live here: only this user may read them.
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dataDirectory.path)
        for service in services where TCPPort.isListening(service.port) {
            throw ValidationError("port \(service.port) (\(service.name)) is already in use: is bookdelivery already up?")
        }

        var redisServer: RedisServerProcess?
        let redisURL: String
        if let redis {
            redisURL = redis
        } else {
            let server = try await RedisServerProcess(
                port: try chooseRedisPort(), directory: dataDirectory, arguments: ["--appendonly", "yes", "--appendfsync", "everysec"])
            redisServer = server
            redisURL = server.url
            say("redis-server on \(redisURL) (AOF in \(data))")
        }

        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var children: [(name: String, process: ChildProcess)] = []
        for service in services {
            let process = try ChildProcess(
                executable: executable,
                arguments: [
                    service.name, "--port", String(service.port), "--redis", redisURL,
                    "--db", dataDirectory.appendingPathComponent("\(service.name).sqlite").path, "--consumer", "\(service.name)-1",
                ],
                environment: ProcessInfo.processInfo.environment.merging([ParentWatch.variable: String(getpid())]) { $1 },
                inheritOutput: true)
            children.append((service.name, process))
        }
        for service in services {
            _ = await TCPPort.waitUntilListening(service.port, timeout: .seconds(20))
        }
        let width = services.map(\.name.count).max() ?? 0
        let lines = services.map { service in
            "  " + service.name.capitalized.padding(toLength: width + 2, withPad: " ", startingAt: 0) + "http://127.0.0.1:\(service.port)"
        }
        say(
            """

            bookdelivery is up:
            \(lines.joined(separator: "\n"))
              Redis     \(redisURL)   (bookdelivery streams --redis \(redisURL))
            Press Ctrl-C to stop.

            """)

        for await _ in signals { break }
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

    /// Prints and flushes at once, so that our lines keep their place among the services' logs even
    /// when the output goes to a file.
    private func say(_ text: String) {
        print(text)
        fflush(nil)
    }
}
