import Bus
import Foundation
import GRDB
import Redis
import Synchronization
import TestSupport
import XCTest

/// A consumer whose handler cannot reach its database pauses: it keeps its entries, counts no
/// attempt, dead-letters nothing, and carries on once the database answers again.
final class InfrastructureFailureTests: RedisTestCase {
    func testALockedDatabasePausesTheConsumerWithoutCountingAttemptsOrLettingOthersClaim() async throws {
        let unlockAt = ContinuousClock.now + .seconds(2)  // longer than the claim threshold of 0.6 s, and than 5 tries
        let tries = Seen()
        var configuration = StreamConsumer.Configuration.fast(group: "g", consumer: "paused")
        configuration.maxAttempts = 2
        let paused = StreamConsumer(configuration: configuration, client: client(redis), logger: .test("c")) { event in
            await tries.add(event)
            if ContinuousClock.now < unlockAt { throw DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked") }
        }
        let other = Seen()
        let services = RunningServices([paused])
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        let isPaused = await eventually { paused.stats.snapshot.pausedSince != nil }
        XCTAssertTrue(isPaused, "/health shows the pause")
        // A second consumer of the group that would take entries idle for 0.6 s.
        let bystander = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "bystander"), client: client(redis), logger: .test("c")) {
                await other.add($0)
            }
        ])
        let done = await eventually { drained(self.redis, group: "g") }
        await bystander.stop()
        await services.stop()

        XCTAssertTrue(done)
        let attempts = await tries.entries.map(\.attempt)
        XCTAssertGreaterThan(attempts.count, 2, "tried more often than maxAttempts allows")
        XCTAssertEqual(Set(attempts), [1], "no try counted as an attempt")
        let stolen = await other.count
        XCTAssertEqual(stolen, 0, "a paused consumer's entries are not taken for abandoned")
        XCTAssertEqual(
            try redis.command(["XLEN", DeadLetter.stream(for: "test-events", group: "g")]), .integer(0), "nothing dead-lettered")
        let stats = paused.stats.snapshot
        XCTAssertEqual(stats.handled, 1)
        XCTAssertEqual(stats.failed, 0)
        XCTAssertEqual(stats.infrastructureFailures, attempts.count - 1)
        XCTAssertNil(stats.pausedSince, "resumed")
    }

    /// A full batch makes the consumer read the next one while handling it. If the infrastructure
    /// fails meanwhile, the batch read ahead is held with the failed one, not dropped (it would then
    /// wait for a claim, here a minute away) nor tried before its turn.
    func testABatchReadAheadBeforeAPauseIsHeldAndHandledInOrder() async throws {
        var configuration = StreamConsumer.Configuration.fast(group: "g", consumer: "c")
        configuration.batchSize = 2
        configuration.claimIdle = .seconds(60)
        configuration.claimInterval = .seconds(60)
        try await StreamPublisher(client: client(redis)).publish((0..<6).map { try makeEvent($0) })
        let unlockAt = ContinuousClock.now + .milliseconds(500)
        let handled = Seen()
        let consumer = StreamConsumer(configuration: configuration, client: client(redis), logger: .test("c")) { event in
            if ContinuousClock.now < unlockAt { throw DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked") }
            await handled.add(event)
        }
        let services = RunningServices([consumer])
        let done = await eventually(timeout: .seconds(15)) { drained(self.redis, group: "g") }
        await services.stop()

        XCTAssertTrue(done, "every entry handled and acknowledged without waiting for a claim")
        let keys = await handled.entries.map(\.envelope.key)
        XCTAssertEqual(keys, (0..<6).map { "item-\($0)" }, "in stream order, once each")
        XCTAssertGreaterThan(consumer.stats.snapshot.infrastructureFailures, 0, "the consumer did pause")
        XCTAssertEqual(consumer.stats.snapshot.claimed, 0)
    }

    func testTheEventsOwnFailuresStillCountAndDeadLetter() async throws {
        var configuration = StreamConsumer.Configuration.fast(group: "g", consumer: "c")
        configuration.maxAttempts = 2
        let consumer = StreamConsumer(configuration: configuration, client: client(redis), logger: .test("c")) { _ in
            throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "a rule of the data, not the file")
        }
        let services = RunningServices([consumer])
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        let deadLettered = await eventually {
            (try? self.redis.command(["XLEN", DeadLetter.stream(for: "test-events", group: "g")]).int) == 1
        }
        await services.stop()
        XCTAssertTrue(deadLettered)
        XCTAssertEqual(consumer.stats.snapshot.infrastructureFailures, 0)
    }

    func testFailuresAreSortedByCause() {
        XCTAssertTrue(Failure.isInfrastructure(DatabaseError(resultCode: .SQLITE_BUSY)))
        XCTAssertTrue(Failure.isInfrastructure(DatabaseError(resultCode: .SQLITE_IOERR)))
        XCTAssertTrue(Failure.isInfrastructure(RedisError.connectionLost("reset")))
        XCTAssertTrue(Failure.isInfrastructure(RedisError.server("LOADING Redis is loading the dataset in memory")))
        XCTAssertFalse(Failure.isInfrastructure(RedisError.server("WRONGTYPE Operation against a key holding the wrong kind of value")))
        XCTAssertFalse(Failure.isInfrastructure(DatabaseError(resultCode: .SQLITE_CONSTRAINT)))
        XCTAssertFalse(Failure.isInfrastructure(DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "bad payload"))))
    }
}
