import Foundation
import Logging
import Redis
import TestSupport
import XCTest

/// `redis-sentinel://` URLs, and a client that follows the primary through a failover.
final class SentinelTests: XCTestCase {
    func testSentinelURLsNameEverySentinelTheUserAndTheMaster() throws {
        let endpoint = try RedisEndpoint(url: "redis-sentinel://rental:s3cret@10.0.0.1:26380,redis-1,[::1]:26381/bookdelivery")
        XCTAssertEqual(
            endpoint.sentinels?.addresses,
            [.init(host: "10.0.0.1", port: 26380), .init(host: "redis-1", port: 26379), .init(host: "::1", port: 26381)])
        XCTAssertEqual(endpoint.sentinels?.masterName, "bookdelivery")
        XCTAssertEqual(endpoint.username, "rental")
        XCTAssertEqual(endpoint.password, "s3cret")
        XCTAssertEqual(endpoint.description, "redis-sentinel://rental:***@10.0.0.1:26380,redis-1:26379,[::1]:26381/bookdelivery")
        XCTAssertNil(try RedisEndpoint(url: "redis://127.0.0.1:6379").sentinels, "plain URLs stay plain")

        for bad in [
            "redis-sentinel://127.0.0.1:26379", "redis-sentinel://127.0.0.1:26379/", "redis-sentinel://127.0.0.1:0/m",
            "redis-sentinel://:26379/m", "redis-sentinel://a,,b/m", "redis-sentinel://u:pw@h:x/m",
        ] {
            XCTAssertThrowsError(try RedisEndpoint(url: bad), bad) { error in
                XCTAssertFalse("\(error)".contains("pw@"), "the password stays out of the message: \(error)")
            }
        }
    }

    func testAClientFollowsThePrimaryWhenItIsKilled() async throws {
        let group = try await SentinelGroup(replicas: 1)
        let client = RedisClient(endpoint: try group.endpoint, logger: Logger(label: "test"))
        defer { client.close() }
        _ = try await client.command(["XADD", "events", "*", "n", "1"]).orThrow()
        try await group.waitForReplicas()
        let old = try group.primary()
        XCTAssertEqual(old.port, group.nodes[0].port)

        old.kill()
        let promoted = try await group.waitForPromotion(from: old)
        let deadline = ContinuousClock.now + .seconds(30)
        var written: RedisReply?
        while written == nil && ContinuousClock.now < deadline {
            written = try? await client.command(["XADD", "events", "*", "n", "2"]).orThrow()
            if written == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        XCTAssertNotNil(written, "the client wrote again after the failover")
        XCTAssertEqual(try promoted.command(["XLEN", "events"]).int, 2, "on the promoted replica")
        let node = try await client.withConnection { $0.endpoint.port }
        XCTAssertEqual(node, promoted.port)
    }

    func testAPrimaryDemotedUnderAConnectionEndsItInsteadOfAnsweringReadOnly() async throws {
        let group = try await SentinelGroup(replicas: 1)
        let connection = try RedisConnection.open(try group.endpoint)
        XCTAssertEqual(try connection.command(["SET", "k", "1"]), .status("OK"))
        let (primary, replica) = (group.nodes[0], group.nodes[1])
        _ = try replica.command(["REPLICAOF", "NO", "ONE"])
        _ = try primary.command(["REPLICAOF", "127.0.0.1", String(replica.port)])  // as a failover demotes it

        XCTAssertThrowsError(try connection.command(["SET", "k", "2"])) { error in
            guard case RedisError.connectionLost(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("READONLY"), message)
            XCTAssertTrue((error as? RedisError)?.isConnectionProblem == true, "so the client connects again")
        }
    }

    func testAConnectionRefusesANodeTheSentinelsNameThatSaysItIsAReplica() async throws {
        let group = try await SentinelGroup(replicas: 1)
        let (primary, replica) = (group.nodes[0], group.nodes[1])
        // The sentinels have not noticed yet: they still name node 0, which is a replica now.
        _ = try replica.command(["REPLICAOF", "NO", "ONE"])
        _ = try primary.command(["REPLICAOF", "127.0.0.1", String(replica.port)])
        XCTAssertThrowsError(try RedisConnection.open(try group.endpoint)) { error in
            guard case RedisError.connectionFailed(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("says it is a slave"), message)
        }
    }
}
