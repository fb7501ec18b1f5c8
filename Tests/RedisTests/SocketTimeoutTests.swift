import Logging
import Redis
import TestSupport
import XCTest

/// The socket's timeout, against a real redis-server: widened for a read that blocks on the
/// server, back to the endpoint's for a plain command (set only when it changes: see
/// ``RedisConnection/setReadTimeout(_:)``).
final class SocketTimeoutTests: XCTestCase {
    func testABlockingReadOutlastsTheTimeoutAndAPlainCommandAfterItHasTheEndpointsTimeoutAgain() async throws {
        let redis = try await RedisServer()
        var endpoint = redis.endpoint
        endpoint.timeout = .milliseconds(300)
        let client = RedisClient(endpoint: endpoint, logger: Logger(label: "socket-timeout-test"))
        defer { client.close() }

        // Two reads that block longer than the endpoint's timeout, the second a little shorter
        // (as a consumer's are, up to its next scan): both wait on the server and come back empty.
        for block in [800, 700] {
            let read = ["XREAD", "BLOCK", String(block), "STREAMS", "nothing-here", "$"]
            let empty = try await client.command(read, blocking: .milliseconds(block))
            XCTAssertEqual(empty, .null, "a read blocked \(block) ms on the server is not cut off by the 300 ms timeout")
        }

        // Redis stops answering for 700 ms: a plain command gives up after the endpoint's 300 ms.
        // Were the widened timeout (1.3 s) still set, it would wait and get PONG.
        redis.pause()
        async let resumed: Void = {
            try? await Task.sleep(for: .milliseconds(700))
            redis.resume()
        }()
        do {
            let reply = try await client.command(["PING"])
            XCTFail("a plain command waited past the endpoint's timeout for \(reply)")
        } catch let error as RedisError {
            XCTAssertTrue(error.isConnectionProblem, "\(error)")
        }
        await resumed
    }
}
