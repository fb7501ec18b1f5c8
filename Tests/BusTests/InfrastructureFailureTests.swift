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
