import Foundation
import ProcessSupport
import TestSupport
import XCTest

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
        XCTAssertTrue(printed, "up says it is up")
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
