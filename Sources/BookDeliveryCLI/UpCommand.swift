import ArgumentParser
import Bus
import Foundation
import ProcessSupport
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
    @Option(help: "Port of the redis-server that `up` starts (default 6379, or the next free port from 6380 when 6379 is taken, e.g. by Debian's own redis-server service).") var redisPort: Int?
    @Option(help: "Where Redis and the services keep their data.") var data = "./.data"

    /// The asked-for port, which must be free; else 6379, or the first free port after it.
    private func choosePort() throws -> Int {
        if let redisPort {
            guard !TCPPort.isListening(redisPort) else {
                throw ValidationError("a server already listens on port \(redisPort): use it with --redis redis://127.0.0.1:\(redisPort), or pick another --redis-port")
            }
            return redisPort
        }
        guard let port = (6379...6399).first(where: { !TCPPort.isListening($0) }) else {
            throw ValidationError("ports 6379 to 6399 are all taken: pick one with --redis-port")
        }
        if port != 6379 { say("port 6379 is taken (a system redis-server?): starting ours on \(port)") }
        return port
    }

    static let services: [(name: String, port: Int)] = [("rental", 8081), ("delivery", 8082), ("lookup", 8083), ("notifier", 8084)]

    func run() async throws {
        // Trap Ctrl-C first: a signal that comes while things start must still stop them cleanly.
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let dataDirectory = URL(fileURLWithPath: data).standardizedFileURL
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        for service in Self.services where TCPPort.isListening(service.port) {
            throw ValidationError("port \(service.port) (\(service.name)) is already in use: is bookdelivery already up?")
        }

        var redisServer: ChildProcess?
        let redisURL: String
        if let redis {
            redisURL = redis
        } else {
            let redisPort = try choosePort()
            let redisBinary = ["/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
            guard let redisBinary else { throw ValidationError("redis-server not found: run scripts/setup (apt-get install redis-server)") }
            redisServer = try ChildProcess(
                executable: redisBinary,
                arguments: ["--port", String(redisPort), "--bind", "127.0.0.1", "--dir", dataDirectory.path,
                            "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no",
                            "--logfile", dataDirectory.appendingPathComponent("redis.log").path])
            guard TCPPort.waitUntilListening(redisPort, timeout: .seconds(10)) else {
                redisServer?.signal(SIGKILL)
                throw ValidationError("redis-server did not start; see \(data)/redis.log")
            }
            redisURL = "redis://127.0.0.1:\(redisPort)"
            say("redis-server on \(redisURL) (AOF in \(data))")
        }

        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var children: [(name: String, process: ChildProcess)] = []
        for service in Self.services {
            let process = try ChildProcess(
                executable: executable,
                arguments: [service.name, "--port", String(service.port), "--redis", redisURL,
                            "--db", dataDirectory.appendingPathComponent("\(service.name).sqlite").path,
                            "--consumer", "\(service.name)-1"],
                environment: ProcessInfo.processInfo.environment.merging([ParentWatch.variable: String(getpid())]) { $1 },
                inheritOutput: true)
            children.append((service.name, process))
        }
        for service in Self.services {
            _ = TCPPort.waitUntilListening(service.port, timeout: .seconds(20))
        }
        say("""

            bookdelivery is up:
              Rental    http://127.0.0.1:8081   (POST /books, POST /rentals, ...)
              Delivery  http://127.0.0.1:8082   (GET /deliveries?rentalId=, POST /deliveries/{id}/start, ...)
              Lookup    http://127.0.0.1:8083   (GET /customers/{customerId}/rentals)
              Notifier  http://127.0.0.1:8084   (GET /alerts)
              Redis     \(redisURL)            (bookdelivery streams --redis \(redisURL))
            Press Ctrl-C to stop.

            """)

        for await _ in signals { break }
        say("stopping the services...")
        for child in children.reversed() { child.process.signal(SIGTERM) }
        for child in children where !child.process.wait(timeout: .seconds(10)) {
            say("\(child.name) did not stop in 10 s; killing it")
            child.process.signal(SIGKILL)
            child.process.wait()
        }
        if let redisServer {
            redisServer.signal(SIGTERM)
            redisServer.wait()
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
