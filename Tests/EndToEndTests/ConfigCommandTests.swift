import Foundation
import ProcessSupport
import TestSupport
import XCTest

/// `bookdelivery config`: the effective configuration, flags over environment over defaults, with
/// secrets masked.
final class ConfigCommandTests: XCTestCase {
    func testConfigPrintsTheEffectiveValuesWithTheRedisPasswordHidden() async throws {
        let directory = try TemporaryDirectory.make(prefix: "config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let passwordFile = directory.appendingPathComponent("rental.password")
        try "s3cret-from-file\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("config.out").path
        var environment = ProcessInfo.processInfo.environment
        environment["DRAIN"] = "7s"
        environment["PORT"] = "9999"
        let process = try ChildProcess(
            executable: try ServiceCluster.findExecutable(),
            arguments: [
                "config", "rental", "--no-auth", "--port", "9081", "--redis", "redis://rental:s3cret-in-url@127.0.0.1:6390",
                "--redis-password-file", passwordFile.path,
            ],
            environment: environment, logFile: output)
        let exited = await process.exit(within: .seconds(20))
        XCTAssertTrue(exited)
        XCTAssertEqual(process.wait(), 0)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        XCTAssertTrue(text.contains("port             9081"), "the flag wins over PORT: \(text)")
        XCTAssertTrue(text.contains("drain            7.0 seconds"), "DRAIN from the environment: \(text)")
        XCTAssertTrue(text.contains("redis://rental:***@127.0.0.1:6390"), text)
        XCTAssertTrue(text.contains("set (hidden)"), text)
        XCTAssertFalse(text.contains("s3cret"), "no password in the output")
    }

    /// `bookdelivery config gateway --no-auth` with `flags` and `extra` in the environment: its exit status and output.
    private func configGateway(_ flags: [String], _ extra: [String: String] = [:]) async throws -> (status: Int32, text: String) {
        let directory = try TemporaryDirectory.make(prefix: "config-gateway")
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("config.out").path
        var environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        for pool in ["RENTAL", "DELIVERY", "LOOKUP", "NOTIFIER"] { environment["\(pool)_URLS"] = "http://127.0.0.1:9" }
        let process = try ChildProcess(
            executable: try ServiceCluster.findExecutable(), arguments: ["config", "gateway", "--no-auth"] + flags,
            environment: environment, logFile: output)
        let exited = await process.exit(within: .seconds(20))
        XCTAssertTrue(exited)
        return (process.wait(), try String(contentsOfFile: output, encoding: .utf8))
    }

    /// The gateway turns a share of the API away when its loop is too busy only when told to
    /// (`--loop-busy-limit`, `LOOP_BUSY_LIMIT`), and refuses a limit that would turn it away idle.
    func testTheGatewaysLoopBusyLimitIsOffUnlessSetAndRefusedOutOfRange() async throws {
        let unset = try await configGateway([])
        XCTAssertEqual(unset.status, 0, unset.text)
        XCTAssertTrue(unset.text.contains("loop-busy-limit    never"), unset.text)
        let fromEnvironment = try await configGateway([], ["LOOP_BUSY_LIMIT": "85"])
        XCTAssertTrue(fromEnvironment.text.contains("loop-busy-limit    85 %"), fromEnvironment.text)
        let tooLow = try await configGateway(["--loop-busy-limit", "40"])
        XCTAssertNotEqual(tooLow.status, 0)
        XCTAssertTrue(tooLow.text.contains("--loop-busy-limit must be 50 to 100"), tooLow.text)
    }

    /// Each pool's limit adapts unless told to stay fixed at `--max-concurrent` (`--concurrency-limit`,
    /// `CONCURRENCY_LIMIT`); anything else is refused.
    func testTheGatewaysConcurrencyLimitIsAdaptiveUnlessFixedIsAsked() async throws {
        let unset = try await configGateway([])
        XCTAssertTrue(unset.text.contains("concurrency-limit  adaptive"), unset.text)
        let fixed = try await configGateway(["--max-concurrent", "40"], ["CONCURRENCY_LIMIT": "fixed"])
        XCTAssertEqual(fixed.status, 0, fixed.text)
        XCTAssertTrue(fixed.text.contains("concurrency-limit  fixed at max-concurrent"), fixed.text)
        XCTAssertTrue(fixed.text.contains("max-concurrent     40 per pool"), fixed.text)
        let flag = try await configGateway(["--concurrency-limit", "fixed"], ["CONCURRENCY_LIMIT": "adaptive"])
        XCTAssertTrue(flag.text.contains("concurrency-limit  fixed"), "the flag wins over the environment: \(flag.text)")
        let unknown = try await configGateway(["--concurrency-limit", "sometimes"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.text.contains("--concurrency-limit must be adaptive or fixed"), unknown.text)
    }
}
