import Foundation
import ProcessSupport
import Redis
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `bookdelivery up`: everything for a local try-out, stopped cleanly by Ctrl-C (SIGINT).
final class UpCommandTests: XCTestCase {
    func testUpStartsRedisTheServicesAndTheGatewayWithKeysUsersAndTokensAndCtrlCStopsThemAll() async throws {
        let started = try await StartedUp.start(prefix: "up")
        defer { started.cleanUp() }
        let (up, ports, redisPort, data, logPath) = (started.process, started.ports, started.redisPort, started.data, started.logPath)
        var log = try String(contentsOfFile: logPath, encoding: .utf8)
        func token(_ variable: String) throws -> String {
            let line = try XCTUnwrap(
                log.split(separator: "\n").first { $0.contains("export \(variable)=") }, "up prints \(variable)'s token")
            return String(line.split(separator: "=", maxSplits: 1)[1])
        }
        let (admin, alice) = (try token("ADMIN"), try token("ALICE"))
        _ = try token("BOB")
        _ = try token("COURIER")

        // Through the gateway, with the tokens up printed.
        let gateway = "http://127.0.0.1:\(ports["gateway"]!)"
        var request = URLRequest(url: URL(string: "\(gateway)/books")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(admin)", forHTTPHeaderField: "Authorization")
        request.httpBody = Data(#"{"title":"Dune","author":"Frank Herbert"}"#.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 201)
        let promoted = await eventually {
            var alerts = URLRequest(url: URL(string: "\(gateway)/alerts")!)
            alerts.setValue("Bearer \(alice)", forHTTPHeaderField: "Authorization")
            let data = try? await URLSession.shared.data(for: alerts).0
            return data.map { String(decoding: $0, as: UTF8.self).contains("new_book") } ?? false
        }
        XCTAssertTrue(promoted, "the services talk through up's Redis, each as its own Redis user")

        // Redis: a user per service, least privilege; the default user is off.
        let secrets = data.appendingPathComponent("secrets")
        func redis(_ user: String?) throws -> RedisConnection {
            let password = try user.map { try String(contentsOf: secrets.appendingPathComponent("\($0).password"), encoding: .utf8) }
            return try RedisConnection(
                endpoint: RedisEndpoint(
                    port: redisPort, username: user, password: password?.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        func refused(_ user: String?, _ command: [String]) throws -> String {
            guard let connection = try? redis(user) else { return "refused at login" }
            guard case .error(let message) = try connection.command(command) else { return "allowed" }
            return message
        }
        let forged = try refused("rental", ["XADD", "delivery-events", "*", "type", "DeliveryCanceled", "rentalId", "x"])
        XCTAssertTrue(forged.hasPrefix("NOPERM"), "Rental's credentials cannot forge Delivery's events: \(forged)")
        XCTAssertTrue(
            try refused("delivery", ["HSET", "lookup:rental:x", "status", "returned"]).hasPrefix("NOPERM"), "only Lookup writes lookup:*")
        XCTAssertTrue(try refused("operator", ["FLUSHALL"]).hasPrefix("NOPERM"))
        XCTAssertTrue(try refused("lookup", ["CONFIG", "GET", "dir"]).hasPrefix("NOPERM"))
        XCTAssertTrue(try refused("notifier", ["ACL", "LIST"]).hasPrefix("NOPERM"))
        XCTAssertEqual(try refused("rental", ["XLEN", "rental-events"]), "allowed", "its own work is allowed")
        XCTAssertEqual(try refused("admin", ["ACL", "WHOAMI"]), "allowed")
        XCTAssertTrue(try refused(nil, ["PING"]).hasPrefix("NOAUTH"), "the default user is off")
        XCTAssertEqual(
            try refused("gateway", ["XREAD", "COUNT", "1", "STREAMS", "lookup:changes", "0"]), "allowed", "the live pages' feed")
        XCTAssertTrue(try refused("gateway", ["FLUSHALL"]).hasPrefix("NOPERM"))
        XCTAssertTrue(
            try refused("gateway", ["HSET", "lookup:rental:x", "status", "returned"]).hasPrefix("NOPERM"),
            "it reads views, never writes them")
        XCTAssertEqual(try refused("operator", ["MULTI"]), "allowed", "a re-drive moves an entry in one MULTI")
        // The public process writes no stream: a gateway taken over cannot forge an event nor
        // delete one; the web app's re-drive goes to the service that owns the dead letters.
        for command in [
            ["XADD", "rental-events", "*", "type", "Forged"], ["XADD", "delivery-events", "*", "type", "Forged"],
            ["XDEL", "rental-events", "1-1"], ["XADD", "rental-events:dead:notifier", "*", "type", "Forged"], ["MULTI"],
        ] {
            let answer = try refused("gateway", command)
            XCTAssertTrue(answer.hasPrefix("NOPERM"), "gateway: \(command.prefix(2)) answered \(answer)")
        }
        XCTAssertEqual(try refused("gateway", ["XRANGE", "rental-events:dead:notifier", "-", "+"]), "allowed", "the operator's page reads")
        XCTAssertEqual(
            try refused("notifier", ["XDEL", "rental-events:dead:notifier", "1-1"]), "allowed",
            "a service deletes its replayed dead letters")
        XCTAssertTrue(
            try refused("notifier", ["XDEL", "rental-events:dead:delivery", "1-1"]).hasPrefix("NOPERM"), "only its own")
        XCTAssertTrue(try refused("notifier", ["XDEL", "rental-events", "1-1"]).hasPrefix("NOPERM"), "never an event stream")
        for user in ["rental", "delivery", "lookup", "notifier", "operator", "gateway", "admin"] {
            let file = secrets.appendingPathComponent("\(user).password")
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
            XCTAssertEqual(mode, 0o600, "\(user)'s password file")
            let password = try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertFalse(try String(contentsOf: data.appendingPathComponent("redis/users.acl"), encoding: .utf8).contains(password))
            log = try String(contentsOfFile: logPath, encoding: .utf8)
            XCTAssertFalse(log.contains(password), "no password in the output")
        }
        let keyMode = try FileManager.default.attributesOfItem(atPath: data.appendingPathComponent("keys/signing-key.jwk").path)[
            .posixPermissions]
        XCTAssertEqual(keyMode as? Int, 0o600)

        up.signal(SIGINT)
        let stopped = await up.exit(within: .seconds(20))
        XCTAssertTrue(stopped, "Ctrl-C stops everything")
        for port in Array(ports.values) + [redisPort] {
            XCTAssertFalse(TCPPort.isListening(port), "port \(port) is closed")
        }
        log = try String(contentsOfFile: logPath, encoding: .utf8)
        XCTAssertTrue(log.contains("bookdelivery is up: \(gateway)"))
        XCTAssertTrue(log.contains("stopped"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: data.appendingPathComponent("redis/appendonlydir").path), "AOF under --data")
        let mode = try FileManager.default.attributesOfItem(atPath: data.path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o700, "the data directory is the user's alone")
    }

    func testUpRefusesToGiveTwoPartsTheSamePort() async throws {
        let port = try TCPPort.free()
        for arguments in [
            ["--port", "gateway=\(port)", "--port", "lookup=\(port)"], ["--redis-port", "\(port)", "--port", "gateway=\(port)"],
        ] {
            let directory = try TemporaryDirectory.make(prefix: "up-same-port")
            defer { try? FileManager.default.removeItem(at: directory) }
            let logPath = directory.appendingPathComponent("up.log").path
            let up = try ChildProcess(
                executable: try ServiceCluster.findExecutable(),
                arguments: ["up", "--data", directory.appendingPathComponent("data").path] + arguments, logFile: logPath)
            let exited = await up.exit(within: .seconds(10))
            XCTAssertTrue(exited)
            XCTAssertNotEqual(up.wait(), 0, "a usage error, before anything starts")
            let log = try String(contentsOfFile: logPath, encoding: .utf8)
            XCTAssertTrue(log.contains("were both given port \(port)"), log)
            XCTAssertFalse(TCPPort.isListening(port))
        }
    }

    /// `--restart never`: as before `up` supervised.
    func testWithRestartNeverAPartThatStopsByItselfStopsTheRestAndUpFails() async throws {
        let started = try await StartedUp.start(prefix: "up-part-stops", arguments: ["--restart", "never"])
        defer { started.cleanUp() }
        let (up, ports, redisPort, logPath) = (started.process, started.ports, started.redisPort, started.logPath)
        // The notifier dies (as on a crash): found by its command line, which names its port.
        let notifier = try XCTUnwrap(Self.process(withArguments: ["notifier", "--port", String(ports["notifier"]!)]))
        kill(notifier, SIGKILL)

        let exited = await up.exit(within: .seconds(30))
        XCTAssertTrue(exited, "up does not carry on with a part missing")
        XCTAssertNotEqual(up.wait(), 0, "and says it failed")
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        XCTAssertTrue(log.contains("notifier stopped by itself"), log)
        for port in Array(ports.values) + [redisPort] {
            XCTAssertFalse(TCPPort.isListening(port), "port \(port) is closed")
        }
    }

    func testWhenAPartCannotStartUpStopsWhatStartedAndFails() async throws {
        let ports = try Dictionary(uniqueKeysWithValues: StartedUp.names.map { ($0, try TCPPort.free()) })
        let redisPort = try TCPPort.free()
        let directory = try TemporaryDirectory.make(prefix: "up-cannot-start")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A directory where Rental's database file would be: Rental exits at once.
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("rental.sqlite"), withIntermediateDirectories: true)
        let logPath = directory.appendingPathComponent("up.log").path
        let up = try ChildProcess(
            executable: try ServiceCluster.findExecutable(),
            arguments: ["up", "--redis-port", String(redisPort), "--data", data.path]
                + StartedUp.names.flatMap { ["--port", "\($0)=\(ports[$0]!)"] },
            logFile: logPath)
        let exited = await up.exit(within: .seconds(40))
        if !exited {
            up.signal(SIGKILL)
            up.wait()
        }
        XCTAssertTrue(exited, "up does not wait for a part that has stopped")
        XCTAssertNotEqual(up.wait(), 0)
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        XCTAssertTrue(log.contains("rental stopped while starting"), log)
        XCTAssertFalse(log.contains("bookdelivery is up"), "it never says it is up")
        for port in Array(ports.values) + [redisPort] {
            XCTAssertFalse(TCPPort.isListening(port), "port \(port) is closed")
        }
    }

    /// The pid of a process whose command line holds `arguments` in a row.
    static func process(withArguments arguments: [String]) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry), let words = commandLine(of: pid) else { continue }
            guard words.count >= arguments.count else { continue }
            if (0...(words.count - arguments.count)).contains(where: { Array(words[$0..<$0 + arguments.count]) == arguments }) {
                return pid
            }
        }
        return nil
    }

    /// `--concurrency-limit` reaches the gateway; a mode it does not know is refused before anything starts.
    func testTheGatewaysConcurrencyLimitModeIsChosenAtUp() async throws {
        let directory = try TemporaryDirectory.make(prefix: "up-limit-mode")
        defer { try? FileManager.default.removeItem(at: directory) }
        let logPath = directory.appendingPathComponent("up.log").path
        // Free ports all the same: were the mode taken, this up would start, and stop at the end.
        let ports =
            try StartedUp.names.flatMap { ["--port", "\($0)=\(try TCPPort.free())"] } + ["--redis-port", String(try TCPPort.free())]
        let refused = try ChildProcess(
            executable: try ServiceCluster.findExecutable(),
            arguments: ["up", "--data", directory.appendingPathComponent("data").path, "--concurrency-limit", "sometimes"] + ports,
            logFile: logPath)
        let exited = await refused.exit(within: .seconds(10))
        if !exited {
            refused.signal(SIGINT)
            if !(await refused.exit(within: .seconds(20))) { refused.signal(SIGKILL) }
        }
        XCTAssertTrue(exited, "a usage error ends up at once")
        XCTAssertNotEqual(refused.wait(), 0, "a usage error")
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        XCTAssertTrue(log.contains("adaptive") && log.contains("fixed"), "the error names the modes: \(log)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("data").path), "nothing started")

        let started = try await StartedUp.start(
            prefix: "up-fixed-limit", arguments: ["--concurrency-limit", "fixed", "--max-concurrent", "8"])
        defer { started.cleanUp() }
        let gateway = try XCTUnwrap(Self.process(withArguments: ["gateway", "--port", String(started.ports["gateway"]!)]))
        let words = try XCTUnwrap(Self.commandLine(of: gateway))
        let flags = Dictionary(zip(words, words.dropFirst()), uniquingKeysWith: { _, last in last })
        XCTAssertEqual(flags["--concurrency-limit"], "fixed", "the gateway's limit is fixed: \(words)")
        XCTAssertEqual(flags["--max-concurrent"], "8")
    }

    /// A process's arguments, from `/proc`; nil once it is gone.
    static func commandLine(of pid: pid_t) -> [String]? {
        FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { data in
            data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    func testUpRefusesAMalformedPortOverride() async throws {
        let up = try ChildProcess(executable: try ServiceCluster.findExecutable(), arguments: ["up", "--port", "shipping=9000"])
        let exited = await up.exit(within: .seconds(10))
        XCTAssertTrue(exited)
        XCTAssertNotEqual(up.wait(), 0, "a usage error, before anything starts")
    }
}
