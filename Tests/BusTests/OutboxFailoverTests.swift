import Bus
import Foundation
import GRDB
import Redis
import TestSupport
import XCTest

/// A replica promoted without the primary's last entries: the relay finds exactly those and
/// publishes them again, even when other writers have added to the stream since.
final class OutboxFailoverTests: RedisTestCase {
    func testAnEntryLostBehindAnotherWritersLaterEntriesIsStillFound() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let services = RunningServices([quickRelay(database, outbox, client: client(redis))])
        try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
        let published = await eventually { entryKeys(self.redis).count == 10 }
        XCTAssertTrue(published)

        // As a promoted replica that lacked the last three, to which another writer has added five
        // since: later ids and more entries added than the relay published, so neither counter shows it.
        let entries = try redis.command(["XRANGE", "test-events", "-", "+"]).array ?? []
        var rebuild: [[String]] = [["MULTI"], ["DEL", "test-events"]]
        for entry in entries.prefix(7) {
            let fields = (entry.array?[1].array ?? []).compactMap(\.string)
            rebuild.append(["XADD", "test-events", entry.array?[0].string ?? ""] + fields)
        }
        for other in 0..<5 { rebuild.append(["XADD", "test-events", "*", "key", "other-\(other)"]) }
        rebuild.append(["EXEC"])
        _ = try RedisConnection(endpoint: redis.endpoint).pipeline(rebuild)
        XCTAssertEqual(try redis.command(["XINFO", "STREAM", "test-events"]).pairs["entries-added"]?.int, 12)

        let restored = await eventually { entryKeys(self.redis).filter { $0.hasPrefix("item-") }.count == 10 }
        await services.stop()
        XCTAssertTrue(restored, "re-published: \(entryKeys(redis))")
        XCTAssertEqual(
            entryKeys(redis), (0..<7).map { "item-\($0)" } + (0..<5).map { "other-\($0)" } + (7..<10).map { "item-\($0)" },
            "exactly the three lost, once each, after the other writer's")
    }

    func testAReplicaPromotedWithoutAcknowledgedEntriesGetsExactlyThose() async throws {
        let group = try await SentinelGroup(replicas: 1)
        let database = try busDatabase()
        let outbox = Outbox()
        let relayClient = RedisClient(endpoint: try group.endpoint, logger: .test("relay"))
        let services = RunningServices([relayClient, quickRelay(database, outbox, client: relayClient)])
        let (primary, replica) = (group.nodes[0], group.nodes[1])
        try await database.write { db in try outbox.append((0..<5).map { try makeEvent($0) }, in: db) }
        let first = await eventually { entryKeys(primary).count == 5 }
        XCTAssertTrue(first)
        try await group.waitForReplicas()

        // Cut off, as by a partition: it hears nothing of the next five, which the primary
        // acknowledges. (Paused alone, it would find them in its socket's buffer when it resumes.)
        replica.pause()
        _ = try primary.command(["CLIENT", "KILL", "TYPE", "replica"])
        try await database.write { db in try outbox.append((5..<10).map { try makeEvent($0) }, in: db) }
        let acknowledged = await eventually { entryKeys(primary).count == 10 }
        XCTAssertTrue(acknowledged)
        primary.kill()
        replica.resume()
        XCTAssertEqual(entryKeys(replica).count, 5, "the replica lacks the five the primary had acknowledged")

        let promoted = try await group.waitForPromotion(from: primary)
        XCTAssertEqual(promoted.port, replica.port)
        let restored = await eventually(timeout: .seconds(30)) { entryKeys(replica).count == 10 }
        await services.stop()
        XCTAssertTrue(restored, "re-published: \(entryKeys(replica))")
        XCTAssertEqual(entryKeys(replica), (0..<10).map { "item-\($0)" }, "exactly the lost ones, once each, in order")
    }
}
