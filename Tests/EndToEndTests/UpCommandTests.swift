import Foundation
import ProcessSupport
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `bookdelivery up`: everything for a local try-out, stopped cleanly by Ctrl-C (SIGINT).
final class UpCommandTests: XCTestCase {
    func testUpStartsRedisAndTheFourServicesAndCtrlCStopsThemAll() async throws {
        let services = ["rental", "delivery", "lookup", "notifier"]
        let ports = try Dictionary(uniqueKeysWithValues: services.map { ($0, try TCPPort.free()) })
        let directory = try TemporaryDirectory.make(prefix: "up")
        defer { try? FileManager.default.removeItem(at: directory) }
        let redisPort = try TCPPort.free()
        let up = try ChildProcess(
            executable: try ServiceCluster.findExecutable(),
            arguments: ["up", "--redis-port", String(redisPort), "--data", directory.path]
                + services.flatMap { ["--port", "\($0)=\(ports[$0]!)"] },
            logFile: directory.appendingPathComponent("up.log").path)
        defer {
            if up.isRunning {
                up.signal(SIGKILL)
                up.wait()
            }
        }
        for port in Array(ports.values) + [redisPort] {
            let listening = await TCPPort.waitUntilListening(port, timeout: .seconds(30))
            XCTAssertTrue(listening, "port \(port) is up")
        }

        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(ports["rental"]!)/books")!)
        request.httpMethod = "POST"
        request.httpBody = Data(#"{"title":"Dune","author":"Frank Herbert"}"#.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 201)
        let promoted = await eventually {
            let data = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(ports["notifier"]!)/alerts")!).0
            return data.map { String(decoding: $0, as: UTF8.self).contains("new_book") } ?? false
        }
        XCTAssertTrue(promoted, "the services talk through up's Redis")

        up.signal(SIGINT)
        let stopped = await up.exit(within: .seconds(20))
        XCTAssertTrue(stopped, "Ctrl-C stops everything")
        for port in Array(ports.values) + [redisPort] {
            XCTAssertFalse(TCPPort.isListening(port), "port \(port) is closed")
        }
        let log = try String(contentsOf: directory.appendingPathComponent("up.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("bookdelivery is up"))
        XCTAssertTrue(log.contains("http://127.0.0.1:\(ports["lookup"]!)"), "up prints the ports it used")
        XCTAssertTrue(log.contains("stopped"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("appendonlydir").path), "AOF under --data")
        let mode = try FileManager.default.attributesOfItem(atPath: directory.path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o700, "the data directory is the user's alone")
    }

    func testUpRefusesAMalformedPortOverride() async throws {
        let up = try ChildProcess(executable: try ServiceCluster.findExecutable(), arguments: ["up", "--port", "shipping=9000"])
        let exited = await up.exit(within: .seconds(10))
        XCTAssertTrue(exited)
        XCTAssertNotEqual(up.wait(), 0, "a usage error, before anything starts")
    }
}
