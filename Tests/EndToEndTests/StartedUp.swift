import Foundation
import ProcessSupport
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `bookdelivery up` on free ports in a temporary directory, started and waited for until it says
/// it is up.
struct StartedUp {
    static let names = ["rental", "delivery", "lookup", "notifier", "gateway"]

    let process: ChildProcess
    let ports: [String: Int]
    let redisPort: Int
    let directory: URL
    var data: URL { directory.appendingPathComponent("data") }
    var logPath: String { directory.appendingPathComponent("up.log").path }

    static func start(prefix: String, arguments extra: [String] = []) async throws -> StartedUp {
        let ports = try Dictionary(uniqueKeysWithValues: names.map { ($0, try TCPPort.free()) })
        let redisPort = try TCPPort.free()
        let directory = try TemporaryDirectory.make(prefix: prefix)
        let logPath = directory.appendingPathComponent("up.log").path
        let process = try ChildProcess(
            executable: try ServiceCluster.findExecutable(),
            arguments: ["up", "--redis-port", String(redisPort), "--data", directory.appendingPathComponent("data").path]
                + names.flatMap { ["--port", "\($0)=\(ports[$0]!)"] } + extra,
            logFile: logPath)
        let started = StartedUp(process: process, ports: ports, redisPort: redisPort, directory: directory)
        let printed = await eventually(timeout: .seconds(60)) {
            ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains("Press Ctrl-C")
        }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        XCTAssertTrue(printed, "up says it is up; its log ends: \(log.suffix(3000))")
        return started
    }

    /// Stops what is still running (Ctrl-C, so that `up` stops its redis-server too; SIGKILL if it
    /// has not stopped within 20 s) and removes the directory.
    func cleanUp() {
        if process.isRunning {
            process.signal(SIGINT)
            let deadline = ContinuousClock.now + .seconds(20)
            while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
            process.signal(SIGKILL)
            process.wait()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

extension StartedUp {
    /// Runs `bookdelivery` with `arguments`; its exit status and what it printed.
    static func run(_ arguments: [String], in directory: URL) async throws -> (status: Int32, output: String) {
        let log = directory.appendingPathComponent("run-\(UUID().uuidString).log").path
        let process = try ChildProcess(executable: try ServiceCluster.findExecutable(), arguments: arguments, logFile: log)
        let exited = await process.exit(within: .seconds(120))
        if !exited { process.signal(SIGKILL) }
        XCTAssertTrue(exited, "bookdelivery \(arguments.joined(separator: " ")) finished")
        return (process.wait(), (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// `bookdelivery ctl ARGUMENTS --data` this `up`'s data.
    func ctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Self.run(["ctl"] + arguments + ["--data", data.path], in: directory)
    }

    /// The token `up` printed as `export VARIABLE=…`.
    func token(_ variable: String) throws -> String {
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        let line = try XCTUnwrap(log.split(separator: "\n").first { $0.contains("export \(variable)=") })
        return String(line.split(separator: "=", maxSplits: 1)[1])
    }

    /// A request to the gateway with `token`; its status and body.
    func call(_ method: String, _ path: String, body: String? = nil, token: String) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(ports["gateway"]!)\(path)")!)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}
