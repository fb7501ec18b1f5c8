import Bus
import Foundation
import GRDB
import Primitives
import Redis
import Synchronization
import TestSupport
import XCTest

/// The outbox relay over a real SQLite file and a real `redis-server`.
final class OutboxRelayTests: RedisTestCase {
    private func relay(
        _ database: DatabasePool, _ outbox: Outbox, redisClient: RedisClient? = nil, name: String = "relay",
        _ tune: (inout OutboxRelay.Configuration) -> Void = { _ in }
    ) -> OutboxRelay {
        var configuration = OutboxRelay.Configuration()
        tune(&configuration)
        return OutboxRelay(
            database: database, outbox: outbox, publisher: StreamPublisher(client: redisClient ?? client(redis)), name: name,
            configuration: configuration, logger: .test("relay"))
    }

    private func streamLength() -> Int? { try? redis.command(["XLEN", "test-events"]).int }

    func testRowsOfARelayKilledBetweenClaimAndPublishGoOutOnceItsLeaseEnds() async throws {
        let database = try busDatabase()
        try await database.write { db in try Outbox().append((0..<10).map { try makeEvent($0) }, in: db) }
        // What a relay killed mid-publish leaves behind: its rows claimed under a lease still running.
        let leaseEnd = Timestamp.milliseconds() + 1_000
        try await database.write { db in
            try db.execute(sql: "UPDATE outbox SET claimedBy = 'relay-1', claimedUntil = ?", arguments: [leaseEnd])
        }
        let relay = relay(database, Outbox(), name: "relay-2") { $0.pollInterval = .milliseconds(50) }
        let backlogBefore = try await relay.counts().backlog
        XCTAssertEqual(backlogBefore, 10)
        let services = RunningServices([relay])
        let done = await eventually { self.streamLength() == 10 }
        await services.stop()
        XCTAssertTrue(done)
        XCTAssertGreaterThanOrEqual(Timestamp.milliseconds(), leaseEnd, "not before the dead relay's lease ran out")
        let backlogAfter = try await relay.counts().backlog
        XCTAssertEqual(backlogAfter, 0)
        let keys = try redis.command(["XRANGE", "test-events", "-", "+"]).array?.compactMap { $0.array?[1].hash["key"] }
        XCTAssertEqual(keys, (0..<10).map { "item-\($0)" }, "in order, once each")
    }

    private func keys() throws -> [String]? {
        try redis.command(["XRANGE", "test-events", "-", "+"]).array?.compactMap { $0.array?[1].hash["key"] }
    }

    /// Rows committed while the relay runs are handed to it as they commit: claimed in their insert,
    /// published without a claim transaction, and marked published many to a transaction.
    func testCommittedRowsGoOutWithoutAClaimTransactionAndAreMarkedTogether() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let relay = relay(database, outbox) {
            $0.pollInterval = .seconds(3600)
            $0.lossCheckInterval = .seconds(3600)
            $0.markInterval = .seconds(3600)  // marked only when the relay stops
        }
        let services = RunningServices([relay])
        try await database.write { db in try outbox.append(try makeEvent(0), in: db) }
        let first = await eventually { self.streamLength() == 1 }
        XCTAssertTrue(first)
        let statements = Mutex<[String]>([])
        try await database.writeWithoutTransaction { db in db.trace { event in statements.withLock { $0.append("\(event)") } } }
        for number in 1...20 {
            try await database.write { db in try outbox.append(try makeEvent(number), in: db) }
        }
        let claimedForTheRelay = try await database.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM outbox WHERE claimedBy = 'relay' AND claimedUntil > ?", arguments: [Timestamp.milliseconds()]
            )
        }
        let all = await eventually { self.streamLength() == 21 }
        await services.stop()
        XCTAssertTrue(all)
        XCTAssertEqual(try keys(), (0...20).map { "item-\($0)" }, "in order, once each")
        XCTAssertGreaterThan(claimedForTheRelay ?? 0, 0, "rows are claimed for the relay in their insert")
        let log = statements.withLock { $0 }
        XCTAssertEqual(log.filter { $0.hasPrefix("UPDATE outbox SET claimedBy") }, [], "no claim: the rows were handed over")
        XCTAssertEqual(log.filter { $0.hasPrefix("UPDATE outbox SET publishedAt") }.count, 1, "marked in one transaction, at the stop")
        let backlog = try await relay.counts().backlog
        XCTAssertEqual(backlog, 0)
    }

    /// Group commit rolls a failing write back alone, in its savepoint: its events must not go out,
    /// though the transaction around it commits.
    func testARowRolledBackWithItsSavepointIsNeverHandedOver() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let services = RunningServices([relay(database, outbox) { $0.pollInterval = .seconds(3600) }])
        try await database.write { db in try outbox.append(try makeEvent(0), in: db) }
        let first = await eventually { self.streamLength() == 1 }
        XCTAssertTrue(first)
        try await database.write { db in
            try outbox.append(try makeEvent(2), in: db)
            try db.inSavepoint {
                try outbox.append(try makeEvent(1), in: db)
                return .rollback
            }
        }
        let second = await eventually { (self.streamLength() ?? 0) >= 2 }
        await services.stop()
        XCTAssertTrue(second)
        XCTAssertEqual(try keys(), ["item-0", "item-2"])
    }

    /// Rows claimed for a relay as they were inserted are another relay's only once that lease ends,
    /// as if the first relay had claimed them itself.
    func testRowsClaimedForARelayInTheirInsertWaitForItsLeaseBeforeAnotherTakesThem() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        _ = relay(database, outbox, name: "relay-1") { $0.claimLease = .seconds(1) }  // attached, never run: as if it died
        let leaseEnd = Timestamp.milliseconds() + 1_000
        try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
        let other = relay(database, Outbox(), name: "relay-2") { $0.pollInterval = .milliseconds(50) }
        let services = RunningServices([other])
        let done = await eventually { self.streamLength() == 10 }
        await services.stop()
        XCTAssertTrue(done)
        XCTAssertGreaterThanOrEqual(Timestamp.milliseconds(), leaseEnd, "not before relay-1's lease ran out")
        XCTAssertEqual(try keys(), (0..<10).map { "item-\($0)" }, "in order, once each")
    }

    func testEventsCommittedWhileRedisIsUnreachableGoOutWhenItIsBack() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        redis.stop()
        let relay = relay(database, outbox) { $0.pollInterval = .milliseconds(50) }
        let services = RunningServices([relay])
        try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
        let stuck = try await relay.counts().backlog
        XCTAssertEqual(stuck, 10, "nothing could go out")
        try await redis.start()
        let done = await eventually { self.streamLength() == 10 }
        XCTAssertTrue(done, "the relay reconnected on its own and published the backlog")
        // Once the table's rows are out, rows are handed over again, after them.
        for number in 10..<20 {
            try await database.write { db in try outbox.append(try makeEvent(number), in: db) }
        }
        let rest = await eventually { self.streamLength() == 20 }
        await services.stop()
        XCTAssertTrue(rest)
        XCTAssertEqual(try keys(), (0..<20).map { "item-\($0)" }, "in order, once each")
        let backlog = try await relay.counts().backlog
        XCTAssertEqual(backlog, 0)
    }

    /// The relay's claims and published marks commit without an fsync, and the writer is back to
    /// `synchronous = FULL` for everything else.
    func testTheRelaysBookkeepingSkipsTheFsyncAndTheWriterStaysDurable() async throws {
        let database = try busDatabase()
        let statements = Mutex<[String]>([])
        try await database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            db.trace { event in statements.withLock { $0.append("\(event)") } }
        }
        let outbox = Outbox()
        let services = RunningServices([relay(database, outbox) { $0.pollInterval = .milliseconds(50) }])
        try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
        let published = await eventually { (try? await self.relayBacklog(database)) == 0 }
        await services.stop()
        XCTAssertTrue(published)
        let log = statements.withLock { $0 }
        var setting = "2"  // FULL, as set above
        var bookkeeping = 0
        for statement in log {
            if statement.hasPrefix("PRAGMA synchronous = ") { setting = String(statement.dropFirst("PRAGMA synchronous = ".count)) }
            if statement.hasPrefix("UPDATE outbox SET claimedBy") || statement.hasPrefix("UPDATE outbox SET publishedAt") {
                XCTAssertEqual(setting, "NORMAL", "\(statement.prefix(40)) commits without an fsync")
                bookkeeping += 1
            }
            if statement.hasPrefix("INSERT INTO \"outbox\"") { XCTAssertEqual(setting, "2", "an event's commit is durable") }
        }
        XCTAssertGreaterThanOrEqual(bookkeeping, 2, "a claim and a mark at least")
        XCTAssertEqual(setting, "2", "the writer is left as it was found")
        let synchronous = try await database.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
        XCTAssertEqual(synchronous, 2)
    }

    private func relayBacklog(_ database: DatabasePool) async throws -> Int {
        try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox WHERE publishedAt IS NULL") ?? -1 }
    }

    func testOutboxRelayWakesOnCommitAndMarksRowsSent() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let relay = relay(database, outbox) { $0.pollInterval = .seconds(3600) }  // only the commit signal can wake it
        let services = RunningServices([relay])
        try await database.write { db in try outbox.append(try makeEvent(1), in: db) }
        let first = await eventually(timeout: .seconds(10)) { self.streamLength() == 1 }
        XCTAssertTrue(first)
        // The relay has published and gone back to its hour-long wait: only the commit can wake it now.
        try await database.write { db in try outbox.append(try makeEvent(2), in: db) }
        let second = await eventually(timeout: .seconds(10)) { self.streamLength() == 2 }
        await services.stop()
        XCTAssertTrue(second, "published without waiting for the hour-long poll")
        let backlogAfterPublish = try await relay.counts().backlog
        XCTAssertEqual(backlogAfterPublish, 0)
        // A rolled-back transaction publishes nothing.
        try? await database.write { db in
            try outbox.append(try makeEvent(3), in: db)
            throw TestSupportError("rollback")
        }
        let outboxRows = try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") }
        XCTAssertEqual(outboxRows, 2)
    }

    func testOutboxRelayRepublishesRecentEventsWhenRedisComesBackWithoutThem() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let relay = relay(database, outbox) { $0.lossCheckInterval = .milliseconds(50) }
        let services = RunningServices([relay])
        try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
        let published = await eventually { self.streamLength() == 10 }
        XCTAssertTrue(published)

        // Like an OS crash that took the AOF's last second: Redis is back, without those entries.
        redis.kill()
        try await redis.start()
        let republished = await eventually { self.streamLength() == 10 }
        await services.stop()
        XCTAssertTrue(republished, "the relay saw a new run_id and sent its recent events again")
        let backlog = try await relay.counts().backlog
        XCTAssertEqual(backlog, 0)
    }

    func testOutboxRelayPrunesSentRowsAfterTheRetentionWindow() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let relay = relay(database, outbox) { configuration in
            configuration.retention = .zero
            configuration.pruneInterval = .milliseconds(20)
            configuration.pollInterval = .milliseconds(20)
        }
        let services = RunningServices([relay])
        try await database.write { db in try outbox.append((0..<5).map { try makeEvent($0) }, in: db) }
        // The newest published row stays: where a restored backup of this database catches up from.
        let pruned = await eventually {
            (try? await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") }) == 1
        }
        await services.stop()
        XCTAssertTrue(pruned)
        let kept = try await database.read { try String.fetchOne($0, sql: "SELECT data FROM outbox") }
        XCTAssertEqual(kept, try makeEvent(4).envelope.data)
        XCTAssertEqual(streamLength(), 5, "pruned only once sent")
    }
}
