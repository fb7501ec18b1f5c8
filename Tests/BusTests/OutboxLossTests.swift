import Bus
import Foundation
import GRDB
import Redis
import TestSupport
import XCTest

/// A Redis that comes back without entries it had acknowledged gets exactly those again, without
/// `INFO`; a row that can never go out does not hold up the others.
final class OutboxLossTests: RedisTestCase {
    private func relay(
        _ database: DatabasePool, _ outbox: Outbox, client: RedisClient? = nil, _ tune: (inout OutboxRelay.Configuration) -> Void = { _ in }
    ) -> OutboxRelay {
        quickRelay(database, outbox, client: client ?? makeClient(), tune)
    }

    private func makeClient() -> RedisClient { client(redis) }

    private func keys() -> [String] { entryKeys(redis) }

    func testARedisRestoredFromAnOlderSnapshotGetsExactlyTheEventsItLacks() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let services = RunningServices([relay(database, outbox)])
        try await database.write { db in try outbox.append((0..<6).map { try makeEvent($0) }, in: db) }
        let first = await eventually { self.keys().count == 6 }
        XCTAssertTrue(first)
        _ = try redis.command(["SAVE"])  // the snapshot Redis will come back from
        try await database.write { db in try outbox.append((6..<10).map { try makeEvent($0) }, in: db) }
        let second = await eventually { self.keys().count == 10 }
        XCTAssertTrue(second)

        redis.kill()  // no AOF: it restarts from the snapshot, without events 6 to 9
        try await redis.start()
        XCTAssertEqual(keys().count, 6, "Redis came back without the last four")
        let restored = await eventually { self.keys().count == 10 }
        await services.stop()
        XCTAssertTrue(restored, "re-published: \(keys())")
        XCTAssertEqual(keys(), (0..<10).map { "item-\($0)" }, "exactly the missing ones, once each, in order")
    }

    func testAWipedRedisGetsEveryKeptEventAgainForAUserWithoutINFO() async throws {
        _ = try redis.command(["ACL", "SETUSER", "relay", "on", ">relaypw", "~*", "+@all", "-@dangerous"])
        var endpoint = redis.endpoint
        (endpoint.username, endpoint.password) = ("relay", "relaypw")
        let restricted = RedisClient(endpoint: endpoint, logger: .test("relay"))
        let refused = try await restricted.command(["INFO", "server"])
        XCTAssertEqual(refused.string, nil)
        guard case .error(let message) = refused, message.hasPrefix("NOPERM") else { return XCTFail("INFO allowed: \(refused)") }

        let database = try busDatabase()
        let outbox = Outbox()
        let services = RunningServices([relay(database, outbox, client: restricted)])
        try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
        let published = await eventually { self.keys().count == 10 }
        XCTAssertTrue(published, "a relay without INFO publishes")

        _ = try redis.command(["FLUSHALL"])  // like a restart without persistence, on the same connection
        let republished = await eventually { self.keys().count == 10 }
        await services.stop()
        XCTAssertTrue(republished)
        XCTAssertEqual(keys(), (0..<10).map { "item-\($0)" })
    }

    func testNothingIsRepublishedWhenRedisLostNothing() async throws {
        let redis = try await RedisServer(appendOnly: true, appendFsync: "always")
        self.redis = redis
        let database = try busDatabase()
        let outbox = Outbox()
        let services = RunningServices([relay(database, outbox)])
        try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
        let published = await eventually { self.keys().count == 10 }
        XCTAssertTrue(published)
        redis.kill()
        try await redis.start()  // everything came back from the AOF
        try await database.write { db in try outbox.append(try makeEvent(10), in: db) }
        let next = await eventually { self.keys().count == 11 }
        await services.stop()
        XCTAssertTrue(next)
        XCTAssertEqual(keys(), (0..<11).map { "item-\($0)" }, "no duplicates: the check saw nothing missing")
    }

    func testARowThatCanNeverGoOutIsSetAsideAndTheOthersGoOn() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let relay = relay(database, outbox) { $0.maxEventBytes = 2000 }
        let services = RunningServices([relay])
        let huge = OutgoingEvent(
            stream: "test-events",
            envelope: try EventEnvelope(type: "Huge", key: "huge", payload: ["text": String(repeating: "x", count: 5000)]))
        try await database.write { db in try outbox.append([try makeEvent(0), huge, try makeEvent(1)], in: db) }
        let others = await eventually { self.keys() == ["item-0", "item-1"] }
        // The entries are in Redis before the relay marks their rows: wait for the marks too.
        _ = try await eventually {
            let counts = try await relay.counts()
            return counts.setAside == 1 && counts.backlog == 0
        }
        let counts = try await relay.counts()
        await services.stop()
        XCTAssertTrue(others, "the rows after it went out: \(keys())")
        XCTAssertEqual(counts.setAside, 1)
        XCTAssertEqual(counts.backlog, 0, "set aside, not waiting")
        let error = try await database.read { try String.fetchOne($0, sql: "SELECT lastError FROM outbox WHERE setAsideAt IS NOT NULL") }
        XCTAssertTrue(error?.contains("bytes") ?? false, error ?? "no error recorded")
        let report = try await StreamsReport.read(client: client(redis))
        XCTAssertTrue(report.text.contains("never published: test-events=1"), report.text)
    }

    func testARowRedisKeepsRefusingIsSetAsideAfterItsTries() async throws {
        _ = try redis.command(["ACL", "SETUSER", "writer", "on", ">pw", "~test-events", "+@all"])  // no key but test-events
        var endpoint = redis.endpoint
        (endpoint.username, endpoint.password) = ("writer", "pw")
        let database = try busDatabase()
        let outbox = Outbox()
        let relay = relay(database, outbox, client: RedisClient(endpoint: endpoint, logger: .test("relay")))
        let services = RunningServices([relay])
        try await database.write { db in
            try outbox.append([try makeEvent(0), try makeEvent(1, stream: "forbidden-events"), try makeEvent(2)], in: db)
        }
        let setAside = await eventually { (try? await relay.counts().setAside) == 1 }
        await services.stop()
        XCTAssertTrue(setAside)
        XCTAssertEqual(keys(), ["item-0", "item-2"])
        let failures = try await database.read { try Int.fetchOne($0, sql: "SELECT failures FROM outbox WHERE setAsideAt IS NOT NULL") }
        XCTAssertEqual(failures, OutboxRelay.Configuration().setAsideAfter)
    }
}
