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
}
