import Bus
import Foundation
import GRDB
import Redis
import TestSupport
import XCTest

/// What happens when handlers fail, consumers die, entries are poison or Redis goes away.
final class FailureHandlingTests: RedisTestCase {
    func testHandlerFailingTwiceThenSucceedingTakesEffectOnce() async throws {
        let database = try busDatabase()
        try await database.write { db in try db.execute(sql: "CREATE TABLE effects(eventId TEXT)") }
        let attempts = Seen()
        let consumer = StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { event in
            await attempts.add(event)
            // The effect is written before the failure, in the same transaction as the inbox record,
            // so a failed attempt leaves nothing behind and a retry writes it exactly once.
            try await database.write { db in
                guard try Inbox.firstDelivery(of: event.envelope.id, to: "test", in: db) else { return }
                try db.execute(sql: "INSERT INTO effects VALUES (?)", arguments: [event.envelope.id])
                if event.attempt < 3 { throw TestSupportError("transient failure") }
            }
        }
        let services = RunningServices([consumer])
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        let done = await eventually { drained(self.redis, group: "g") }
        await services.stop()

        XCTAssertTrue(done)
        let effects = try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM effects") }
        XCTAssertEqual(effects, 1)
        let tried = await attempts.entries.map(\.attempt)
        XCTAssertEqual(tried, [1, 2, 3])
        XCTAssertEqual(try redis.command(["XLEN", DeadLetter.stream(for: "test-events", group: "g")]), .integer(0))
    }

    func testEntriesPendingAtAKilledConsumerAreClaimedByAnother() async throws {
        try await StreamPublisher(client: client(redis)).publish((0..<20).map { try makeEvent($0) })
        let stuck = Seen()
        let doomed = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "doomed"), client: client(redis), logger: .test("c")) { event in
                await stuck.add(event)
                try await Task.sleep(for: .seconds(3600))  // never finishes: its entries stay pending
            }
        ])
        let firstSeen = await eventually { await stuck.count == 1 }
        XCTAssertTrue(firstSeen)
        await doomed.kill()
        let pendingAtDoomed = try pendingCount(redis, group: "g")
        XCTAssertGreaterThan(pendingAtDoomed, 0, "the killed consumer left entries pending")

        let seen = Seen()
        let survivor = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "survivor"), client: client(redis), logger: .test("c")) {
                await seen.add($0)
            }
        ])
        let done = await eventually { drained(self.redis, group: "g") }
        await survivor.stop()
        XCTAssertTrue(done)
        let unique = await seen.uniqueCount
        XCTAssertEqual(unique, 20)
        let claimed = await seen.entries.filter { $0.attempt > 1 }
        XCTAssertEqual(claimed.count, pendingAtDoomed, "exactly the doomed consumer's pending entries were claimed")
    }

    func testPoisonEventGoesToDeadLetterStreamAfterMaxAttemptsWhileOthersFlow() async throws {
        let seen = Seen()
        var configuration = StreamConsumer.Configuration.fast(group: "g", consumer: "c")
        configuration.maxAttempts = 4
        let consumer = StreamConsumer(configuration: configuration, client: client(redis), logger: .test("c")) { event in
            if try event.envelope.payload(as: Numbered.self).number == 13 { throw TestSupportError("unlucky number") }
            await seen.add(event)
        }
        let services = RunningServices([consumer])
        try await StreamPublisher(client: client(redis)).publish((0..<30).map { try makeEvent($0) })
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        let done = await eventually { drained(self.redis, group: "g") && (try? self.redis.command(["XLEN", deadLetters]).int) == 1 }
        await services.stop()
        XCTAssertTrue(done)
        let stats = consumer.stats.snapshot
        XCTAssertEqual([stats.handled, stats.failed, stats.deadLettered, stats.claimed], [29, 3, 1, 0])
        let handled = await seen.count
        XCTAssertEqual(handled, 29)

        let entry = try XCTUnwrap(redis.command(["XRANGE", deadLetters, "-", "+"]).array?.first?.array)
        let fields = entry[1].hash
        XCTAssertEqual(fields["dead.attempts"], "4")
        XCTAssertEqual(fields["dead.group"], "g")
        XCTAssertEqual(fields["dead.stream"], "test-events")
        XCTAssertTrue(fields["dead.error"]?.contains("unlucky number") ?? false)
        XCTAssertEqual(fields["key"], "item-13", "the original fields are kept")
        XCTAssertNotNil(try? EventEnvelope(fields: fields))
    }

    func testGarbageEntryGoesToDeadLetterStreamAtOnceAndConsumerKeepsRunning() async throws {
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) {
                await seen.add($0)
            }
        ])
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        _ = try redis.command(["XADD", "test-events", "*", "hello", "world"])
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(2))
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        let done = await eventually { drained(self.redis, group: "g") && (try? self.redis.command(["XLEN", deadLetters]).int) == 1 }
        await services.stop()
        XCTAssertTrue(done)
        let handled = await seen.count
        XCTAssertEqual(handled, 2)
        let flat = try XCTUnwrap(redis.command(["XRANGE", deadLetters, "-", "+"]).array?.first?.array?[1]).strings
        XCTAssertEqual(Array(flat.prefix(2)), ["hello", "world"])
        let fields = try XCTUnwrap(redis.command(["XRANGE", deadLetters, "-", "+"]).array?.first?.array?[1]).hash
        XCTAssertEqual(fields["dead.attempts"], "1", "dead-lettered on its first attempt")
        XCTAssertTrue(fields["dead.error"]?.contains("undecodable") ?? false)
    }

    func testDeadLetterRedrivePutsEntriesBackOnce() async throws {
        let failing = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { _ in
                throw TestSupportError("broken")
            }
        ])
        try await StreamPublisher(client: client(redis)).publish((0..<3).map { try makeEvent($0) })
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        let allDeadLettered = await eventually {
            (try? self.redis.command(["XLEN", deadLetters]).int) == 3 && drained(self.redis, group: "g")
        }
        XCTAssertTrue(allDeadLettered)
        await failing.stop()

        let moved = try await DeadLetterRedrive.redrive(client: client(redis), deadLetterStream: deadLetters)
        XCTAssertEqual(moved, 3)
        let healed = Seen()
        let fixed = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) {
                await healed.add($0)
            }
        ])
        let done = await eventually { drained(self.redis, group: "g") }
        await fixed.stop()
        XCTAssertTrue(done)
        let counts = [await healed.count, await healed.uniqueCount]
        XCTAssertEqual(counts, [3, 3], "each re-driven event handled once")
        XCTAssertEqual(try redis.command(["XLEN", deadLetters]), .integer(0))
        let report = try await StreamsReport.read(client: client(redis))
        XCTAssertEqual(report.streams.map(\.name), ["test-events"])
        XCTAssertEqual(report.streams.first?.groups.first?.pending, 0)
        XCTAssertEqual(report.deadLetters.map(\.length), [0])
    }

    func testDeadLetterReplayHandsTheGroupsOwnDeadLettersToItsHandlerAndDeletesWhatItHandled() async throws {
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        let events = try (0..<3).map { try makeEvent($0) }
        for (index, event) in events.enumerated() {
            _ = try redis.command(
                ["XADD", deadLetters, "*"] + event.envelope.fields + ["dead.entryId", "\(index + 1)-0", "dead.error", "broken"])
        }
        let seen = Seen()
        let replay = DeadLetterReplay(group: "g", streams: ["test-events"], client: client(redis)) { received in
            for event in received { await seen.add(event) }
            // The second still fails: it stays, the others go.
            return received.map { $0.envelope.id == events[1].envelope.id ? TestSupportError("still broken") : nil }
        }
        let outcome = try await replay.replay(stream: "test-events")
        XCTAssertEqual(outcome?.replayed, 2)
        XCTAssertEqual(outcome?.failed, 1)
        XCTAssertTrue(outcome?.firstError?.contains("still broken") ?? false, "\(String(describing: outcome))")
        let handedOver = await seen.entries.map(\.envelope.id)
        XCTAssertEqual(handedOver, events.map(\.envelope.id), "the original envelopes, without the dead-letter fields")
        let entryIds = await seen.entries.map(\.entryId)
        XCTAssertEqual(entryIds, ["1-0", "2-0", "3-0"], "each as its original entry")
        let left = try redis.command(["XRANGE", deadLetters, "-", "+"]).array ?? []
        XCTAssertEqual(left.count, 1)
        XCTAssertEqual(left.first?.array?[1].hash["id"], events[1].envelope.id)
        XCTAssertEqual(try redis.command(["XLEN", "test-events"]), .integer(0), "nothing is written to the source stream")
        let foreign = try await replay.replay(stream: "other-events")
        XCTAssertNil(foreign, "another stream's dead letters are not this group's")
    }

    func testRedisKilledAndRestartedLosesNothingAcknowledgedAndConsumerResumes() async throws {
        let redis = try await RedisServer(appendOnly: true, appendFsync: "always")
        self.redis = redis
        let publisher = StreamPublisher(client: client(redis))
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) {
                await seen.add($0)
            }
        ])
        try await publisher.publish((0..<200).map { try makeEvent($0) })
        let allHandled = await eventually { await seen.uniqueCount == 200 }
        XCTAssertTrue(allHandled)

        redis.kill()
        try await redis.start()
        // The publisher and the consumer reconnect on their own.
        for batch in stride(from: 200, to: 400, by: 50) {
            let events = try (batch..<batch + 50).map { try makeEvent($0) }
            while (try? await publisher.publish(events)) == nil {}  // each failed try waits the client's backoff
        }
        let done = await eventually { await seen.uniqueCount == 400 }
        await services.stop()
        let handled = await seen.uniqueCount
        XCTAssertTrue(done, "handled \(handled) of 400")
        XCTAssertEqual(try redis.command(["XLEN", "test-events"]), .integer(400), "every acknowledged XADD survived the crash")
    }

    func testConnectsWithAPasswordOrAnACLUserAndRefusesWrongCredentials() async throws {
        let secured = try await RedisServer(extraArguments: ["--requirepass", "s3cret"])
        var endpoint = secured.endpoint
        endpoint.password = "s3cret"
        XCTAssertEqual(try RedisConnection(endpoint: endpoint).command(["PING"]), .status("PONG"))
        XCTAssertEqual(
            try RedisConnection(endpoint: endpoint).command(["ACL", "SETUSER", "app", "on", ">apppw", "~*", "+@all"]), .status("OK"))

        let user = try RedisEndpoint(url: "redis://app:apppw@127.0.0.1:\(secured.port)")
        let publisher = StreamPublisher(client: RedisClient(endpoint: user, logger: .test("p")))
        let entryId = try await publisher.publish(try makeEvent(1))
        XCTAssertFalse(entryId.isEmpty, "an ACL user publishes")

        endpoint.password = "wrong"
        XCTAssertThrowsError(try RedisConnection(endpoint: endpoint)) { error in
            XCTAssertTrue((error as? RedisError)?.isConnectionProblem ?? false, "\(error)")
        }
    }

    func testAClosedClientRefusesWorkInsteadOfHanging() async throws {
        let client = client(redis)
        let pong = try await client.command(["PING"])
        XCTAssertEqual(pong, .status("PONG"))
        client.close()
        do {
            _ = try await client.command(["PING"])
            XCTFail("a closed client answered")
        } catch let error as RedisError {
            XCTAssertEqual(error, .closed)
        }
    }
}
