import Bus
import Foundation
import GRDB
import Logging
import TestSupport
import XCTest

/// The behaviour every part of the project relies on, run against a real `redis-server`.
final class ConformanceTests: XCTestCase {
    var redis: RedisServer!

    override func setUp() async throws {
        redis = try RedisServer()
    }

    override func tearDown() async throws {
        redis = nil
    }

    func testPublishThenSubscribeKeepsPayloadAndFields() async throws {
        let publisher = StreamPublisher(client: client(redis))
        let event = try makeEvent(7)
        let entryId = try await publisher.publish(event)

        let seen = Seen()
        let consumer = StreamConsumer(configuration: .fast(group: "g", consumer: "c1"), client: client(redis), logger: .test("c")) { await seen.add($0) }
        let services = RunningServices([consumer])
        let arrived = await eventually { await seen.count == 1 }
        await services.stop()

        XCTAssertTrue(arrived)
        let entries = await seen.entries
        let received = try XCTUnwrap(entries.first)
        XCTAssertEqual(received.envelope, event.envelope)
        XCTAssertEqual(received.entryId, entryId)
        XCTAssertEqual(received.stream, "test-events")
        XCTAssertEqual(received.deliveries, 1)
        XCTAssertEqual(try received.envelope.payload(as: Numbered.self), Numbered(number: 7, text: "héllo \"7\""))

        // The raw entry reads well in redis-cli: the envelope's fields, in order.
        let raw = try redis.command(["XRANGE", "test-events", "-", "+"])
        let fields = raw.array?.first?.array?[1].array?.compactMap(\.string) ?? []
        XCTAssertEqual(stride(from: 0, to: fields.count, by: 2).map { fields[$0] }, EventEnvelope.fieldNames)
        XCTAssertNotNil(received.envelope.occurredDate)
        // Acknowledged: nothing left pending.
        XCTAssertEqual(try redis.command(["XPENDING", "test-events", "g"]).array?.first, .integer(0))
    }

    func testManyPublishersAndThreeConsumersLoseNothingAndDuplicateNothing() async throws {
        let total = 5_000
        let seen = Seen()
        let consumers = (1...3).map { index in
            StreamConsumer(configuration: .fast(group: "workers", consumer: "c\(index)"), client: client(redis, "c\(index)"), logger: .test("c")) { event in
                await seen.add(event, consumer: "c\(index)")
            }
        }
        let services = RunningServices(consumers)
        let publishers = (0..<10).map { StreamPublisher(client: client(redis, "p\($0)")) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (publisherIndex, publisher) in publishers.enumerated() {
                group.addTask {
                    for batch in stride(from: 0, to: total / 10, by: 50) {
                        let events = try (batch..<batch + 50).map { try makeEvent(publisherIndex * 1000 + $0) }
                        try await publisher.publish(events)
                    }
                }
            }
            try await group.waitForAll()
        }
        let done = await eventually { await seen.count >= total }
        try await Task.sleep(for: .milliseconds(300))  // room for any duplicate to show up
        await services.stop()

        XCTAssertTrue(done)
        let count = await seen.count
        let unique = await seen.uniqueCount
        XCTAssertEqual(count, total, "each event handled exactly once")
        XCTAssertEqual(unique, total)
        let perConsumer = await seen.consumers
        XCTAssertEqual(perConsumer.count, 3, "all three consumers took part: \(perConsumer)")
        XCTAssertEqual(consumers.map(\.stats.snapshot.handled).reduce(0, +), total, "the consumers' own counts agree")
        XCTAssertEqual(consumers.map(\.stats.snapshot.handled), ["c1", "c2", "c3"].map { perConsumer[$0] ?? -1 })
        XCTAssertEqual(try redis.command(["XPENDING", "test-events", "workers"]).array?.first, .integer(0))
    }

    func testTwoGroupsEachGetEverything() async throws {
        let publisher = StreamPublisher(client: client(redis))
        try await publisher.publish((0..<200).map { try makeEvent($0) })
        let first = Seen()
        let second = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "first", consumer: "a"), client: client(redis), logger: .test("c")) { await first.add($0) },
            StreamConsumer(configuration: .fast(group: "second", consumer: "a"), client: client(redis), logger: .test("c")) { await second.add($0) },
        ])
        let done = await eventually {
            let firstCount = await first.count
            let secondCount = await second.count
            return firstCount == 200 && secondCount == 200
        }
        await services.stop()
        XCTAssertTrue(done)
        let firstUnique = await first.uniqueCount
        let secondIds = await second.eventIds
        XCTAssertEqual(firstUnique, 200)
        XCTAssertEqual(Set(secondIds).count, 200)
    }

    func testHandlerFailingTwiceThenSucceedingTakesEffectOnce() async throws {
        let database = try DatabaseQueue()
        var migrator = DatabaseMigrator()
        BusSchema.register(in: &migrator)
        migrator.registerMigration("effects") { db in try db.execute(sql: "CREATE TABLE effects(eventId TEXT)") }
        try migrator.migrate(database)

        let attempts = Seen()
        let consumer = StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { event in
            await attempts.add(event)
            // The effect is written before the failure, in the same transaction as the inbox record,
            // so a failed attempt leaves nothing behind and a retry writes it exactly once.
            try await database.write { db in
                guard try Inbox.firstDelivery(of: event.envelope.id, to: "test", in: db) else { return }
                try db.execute(sql: "INSERT INTO effects VALUES (?)", arguments: [event.envelope.id])
                if event.deliveries < 3 { throw TestSupportError("transient failure") }
            }
        }
        let services = RunningServices([consumer])
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        let done = await eventually { (try? await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM effects") }) == 1 }
        try await Task.sleep(for: .milliseconds(200))
        await services.stop()

        XCTAssertTrue(done)
        let effects = try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM effects") }
        XCTAssertEqual(effects, 1)
        let deliveries = await attempts.entries.map(\.deliveries)
        XCTAssertEqual(deliveries, [1, 2, 3])
        XCTAssertEqual(try redis.command(["XPENDING", "test-events", "g"]).array?.first, .integer(0))
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
        let pendingAtDoomed = try redis.command(["XPENDING", "test-events", "g"]).array?.first?.int ?? 0
        XCTAssertGreaterThan(pendingAtDoomed, 0, "the killed consumer left entries pending")

        let seen = Seen()
        let survivor = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "survivor"), client: client(redis), logger: .test("c")) { await seen.add($0) }
        ])
        let done = await eventually { await seen.uniqueCount == 20 }
        await survivor.stop()
        XCTAssertTrue(done)
        let claimed = await seen.entries.filter { $0.deliveries > 1 }
        XCTAssertEqual(claimed.count, pendingAtDoomed, "exactly the doomed consumer's pending entries were claimed")
        XCTAssertEqual(try redis.command(["XPENDING", "test-events", "g"]).array?.first, .integer(0))
    }

    func testPoisonEventGoesToDeadLetterStreamAfterMaxDeliveriesWhileOthersFlow() async throws {
        let seen = Seen()
        var configuration = StreamConsumer.Configuration.fast(group: "g", consumer: "c")
        configuration.maxDeliveries = 4
        let consumer = StreamConsumer(configuration: configuration, client: client(redis), logger: .test("c")) { event in
            if try event.envelope.payload(as: Numbered.self).number == 13 { throw TestSupportError("unlucky number") }
            await seen.add(event)
        }
        defer {
            let stats = consumer.stats.snapshot
            XCTAssertEqual([stats.handled, stats.failed, stats.deadLettered, stats.claimed], [29, 3, 1, 0])
        }
        let services = RunningServices([consumer])
        try await StreamPublisher(client: client(redis)).publish((0..<30).map { try makeEvent($0) })
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        let done = await eventually {
            let handled = await seen.count
            return handled == 29 && (try? self.redis.command(["XLEN", deadLetters]).int) == 1
        }
        await services.stop()
        XCTAssertTrue(done)

        let entry = try XCTUnwrap(redis.command(["XRANGE", deadLetters, "-", "+"]).array?.first?.array)
        let flat = entry[1].array?.compactMap(\.string) ?? []
        let fields = Dictionary(uniqueKeysWithValues: stride(from: 0, to: flat.count, by: 2).map { (flat[$0], flat[$0 + 1]) })
        XCTAssertEqual(fields["dead.deliveries"], "4")
        XCTAssertEqual(fields["dead.group"], "g")
        XCTAssertEqual(fields["dead.stream"], "test-events")
        XCTAssertTrue(fields["dead.error"]?.contains("unlucky number") ?? false)
        XCTAssertEqual(fields["key"], "item-13", "the original fields are kept")
        XCTAssertNotNil(try? EventEnvelope(fields: fields))
        XCTAssertEqual(try redis.command(["XPENDING", "test-events", "g"]).array?.first, .integer(0))
    }

    func testGarbageEntryGoesToDeadLetterStreamAtOnceAndConsumerKeepsRunning() async throws {
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { await seen.add($0) }
        ])
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        _ = try redis.command(["XADD", "test-events", "*", "hello", "world"])
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(2))
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        let done = await eventually {
            let handled = await seen.count
            return handled == 2 && (try? self.redis.command(["XLEN", deadLetters]).int) == 1
        }
        await services.stop()
        XCTAssertTrue(done)
        let flat = try XCTUnwrap(redis.command(["XRANGE", deadLetters, "-", "+"]).array?.first?.array?[1].array).compactMap(\.string)
        XCTAssertEqual(Array(flat.prefix(2)), ["hello", "world"])
        XCTAssertTrue(flat.contains("dead.deliveries") && flat[flat.firstIndex(of: "dead.deliveries")! + 1] == "1", "dead-lettered on its first delivery")
        XCTAssertTrue(flat.contains { $0.contains("undecodable") })
    }

    func testConsumerClosedAndReopenedLosesNothing() async throws {
        let publisher = StreamPublisher(client: client(redis))
        let seen = Seen()
        let handler: StreamConsumer.Handler = { event in
            await seen.add(event)
            try await Task.sleep(for: .milliseconds(1))
        }
        try await publisher.publish((0..<300).map { try makeEvent($0) })
        let first = RunningServices([StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c"), handler: handler)])
        _ = await eventually { await seen.count >= 50 }
        await first.stop()
        let handledBeforeStop = await seen.count
        XCTAssertLessThan(handledBeforeStop, 300, "stopped mid-stream")
        XCTAssertEqual(try redis.command(["XPENDING", "test-events", "g"]).array?.first, .integer(0), "a graceful stop acknowledges the batch in flight")

        try await publisher.publish((300..<400).map { try makeEvent($0) })
        let second = RunningServices([StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c"), handler: handler)])
        let done = await eventually { await seen.uniqueCount == 400 }
        try await Task.sleep(for: .milliseconds(200))
        await second.stop()
        XCTAssertTrue(done)
        let count = await seen.count
        XCTAssertEqual(count, 400, "nothing handled twice")
    }

    func testRedisKilledAndRestartedLosesNothingAcknowledgedAndConsumerResumes() async throws {
        let redis = try RedisServer(appendOnly: true, appendFsync: "always")
        self.redis = redis
        let publisher = StreamPublisher(client: client(redis))
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { await seen.add($0) }
        ])
        try await publisher.publish((0..<200).map { try makeEvent($0) })
        let allHandled = await eventually { await seen.uniqueCount == 200 }
        XCTAssertTrue(allHandled)

        redis.kill()
        try await Task.sleep(for: .milliseconds(300))
        try redis.start()
        // The publisher and the consumer reconnect on their own.
        for batch in stride(from: 200, to: 400, by: 50) {
            let events = try (batch..<batch + 50).map { try makeEvent($0) }
            _ = try await publisher.client.withRetry { try await publisher.publish(events) }
        }
        let done = await eventually { await seen.uniqueCount == 400 }
        await services.stop()
        let handled = await seen.uniqueCount
        XCTAssertTrue(done, "handled \(handled) of 400")
        XCTAssertEqual(try redis.command(["XLEN", "test-events"]), .integer(400), "every acknowledged XADD survived the crash")
    }

    func testOutboxRelayKilledBetweenCommitAndPublishPublishesAfterRestart() async throws {
        let directory = try TemporaryDirectory.make(prefix: "outbox")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("service.sqlite").path
        var migrator = DatabaseMigrator()
        BusSchema.register(in: &migrator)

        // First life: events committed, but Redis is unreachable, so the relay cannot publish; then it dies.
        do {
            let database = try BusSchema.openDatabase(at: path, migrator: migrator)
            let outbox = Outbox()
            let unreachable = RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: try FreePort.find(), timeout: .milliseconds(200)), logger: .test("r"))
            var configuration = OutboxRelay.Configuration()
            configuration.claimLease = .seconds(1)
            let relay = OutboxRelay(database: database, outbox: outbox, publisher: StreamPublisher(client: unreachable), name: "relay-1", configuration: configuration, logger: .test("relay"))
            let services = RunningServices([relay])
            try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
            try await Task.sleep(for: .milliseconds(500))
            await services.kill()
            let backlogBeforeRestart = try await OutboxRelay.backlog(in: database)
            XCTAssertEqual(backlogBeforeRestart, 10)
        }
        XCTAssertEqual(try redis.command(["XLEN", "test-events"]), .integer(0))

        // Second life: a new relay on the same file publishes them, in order, once.
        let database = try BusSchema.openDatabase(at: path, migrator: migrator)
        var configuration = OutboxRelay.Configuration()
        configuration.claimLease = .seconds(1)
        let relay = OutboxRelay(database: database, outbox: Outbox(), publisher: StreamPublisher(client: client(redis)), name: "relay-2", configuration: configuration, logger: .test("relay"))
        let services = RunningServices([relay])
        let done = await eventually { (try? self.redis.command(["XLEN", "test-events"]).int) == 10 }
        await services.stop()
        XCTAssertTrue(done)
        let backlogAfterRestart = try await OutboxRelay.backlog(in: database)
        XCTAssertEqual(backlogAfterRestart, 0)
        let keys = try redis.command(["XRANGE", "test-events", "-", "+"]).array?.compactMap { entry -> String? in
            let flat = entry.array?[1].array?.compactMap(\.string) ?? []
            return flat.firstIndex(of: "key").map { flat[$0 + 1] }
        }
        XCTAssertEqual(keys, (0..<10).map { "item-\($0)" })
    }

    func testOutboxRelayWakesOnCommitAndMarksRowsSent() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        var configuration = OutboxRelay.Configuration()
        configuration.pollInterval = .seconds(3600)  // only the commit signal can wake it
        let relay = OutboxRelay(database: database, outbox: outbox, publisher: StreamPublisher(client: client(redis)), name: "relay", configuration: configuration, logger: .test("relay"))
        let services = RunningServices([relay])
        try await Task.sleep(for: .milliseconds(100))
        try await database.write { db in try outbox.append(try makeEvent(1), in: db) }
        let published = await eventually(timeout: .seconds(10)) { (try? self.redis.command(["XLEN", "test-events"]).int) == 1 }
        await services.stop()
        XCTAssertTrue(published, "published without waiting for the hour-long poll")
        let backlogAfterPublish = try await OutboxRelay.backlog(in: database)
        XCTAssertEqual(backlogAfterPublish, 0)
        // A rolled-back transaction publishes nothing.
        try? await database.write { db in
            try outbox.append(try makeEvent(2), in: db)
            throw TestSupportError("rollback")
        }
        let outboxRows = try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") }
        XCTAssertEqual(outboxRows, 1)
    }

    func testOutboxRelayRepublishesRecentEventsWhenRedisComesBackWithoutThem() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        var configuration = OutboxRelay.Configuration()
        configuration.restartCheckInterval = .milliseconds(50)
        let relay = OutboxRelay(database: database, outbox: outbox, publisher: StreamPublisher(client: client(redis)), name: "relay", configuration: configuration, logger: .test("relay"))
        let services = RunningServices([relay])
        try await database.write { db in try outbox.append((0..<10).map { try makeEvent($0) }, in: db) }
        let published = await eventually { (try? self.redis.command(["XLEN", "test-events"]).int) == 10 }
        XCTAssertTrue(published)

        // Like an OS crash that took the AOF's last second: Redis is back, without those entries.
        redis.kill()
        try redis.start()
        let republished = await eventually { (try? self.redis.command(["XLEN", "test-events"]).int) == 10 }
        await services.stop()
        XCTAssertTrue(republished, "the relay saw a new run_id and sent its recent events again")
        let backlog = try await OutboxRelay.backlog(in: database)
        XCTAssertEqual(backlog, 0)
    }

    func testConnectsWithAPasswordOrAnACLUserAndRefusesWrongCredentials() async throws {
        let secured = try RedisServer(extraArguments: ["--requirepass", "s3cret"])
        var endpoint = secured.endpoint
        endpoint.password = "s3cret"
        XCTAssertEqual(try RedisConnection(endpoint: endpoint).command(["PING"]), .status("PONG"))
        XCTAssertEqual(try RedisConnection(endpoint: endpoint).command(["ACL", "SETUSER", "app", "on", ">apppw", "~*", "+@all"]), .status("OK"))

        let user = try RedisEndpoint(url: "redis://app:apppw@127.0.0.1:\(secured.port)")
        let publisher = StreamPublisher(client: RedisClient(endpoint: user, logger: .test("p")))
        let entryId = try await publisher.publish(try makeEvent(1))
        XCTAssertFalse(entryId.isEmpty, "an ACL user publishes")

        endpoint.password = "wrong"
        XCTAssertThrowsError(try RedisConnection(endpoint: endpoint)) { error in
            XCTAssertTrue((error as? RedisError)?.isConnectionProblem ?? false, "\(error)")
        }
    }

    func testOutboxRelayPrunesSentRowsAfterTheRetentionWindow() async throws {
        let database = try busDatabase()
        let outbox = Outbox()
        var configuration = OutboxRelay.Configuration()
        configuration.retention = .zero
        configuration.pruneInterval = .milliseconds(20)
        configuration.pollInterval = .milliseconds(20)
        let relay = OutboxRelay(database: database, outbox: outbox, publisher: StreamPublisher(client: client(redis)), name: "relay", configuration: configuration, logger: .test("relay"))
        let services = RunningServices([relay])
        try await database.write { db in try outbox.append((0..<5).map { try makeEvent($0) }, in: db) }
        let pruned = await eventually {
            (try? await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") }) == 0
        }
        await services.stop()
        XCTAssertTrue(pruned)
        XCTAssertEqual(try redis.command(["XLEN", "test-events"]), .integer(5), "pruned only once sent")
    }

    func testGroupCreatedLaterReceivesTheHistory() async throws {
        try await StreamPublisher(client: client(redis)).publish((0..<50).map { try makeEvent($0) })
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "latecomer", consumer: "c"), client: client(redis), logger: .test("c")) { await seen.add($0) }
        ])
        let done = await eventually { await seen.count == 50 }
        await services.stop()
        XCTAssertTrue(done)
        let keys = await seen.entries.map(\.envelope.key)
        XCTAssertEqual(keys, (0..<50).map { "item-\($0)" }, "in stream order")
    }

    func testGroupRecreatedWhenRedisComesBackEmpty() async throws {
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { await seen.add($0) }
        ])
        let publisher = StreamPublisher(client: client(redis))
        try await publisher.publish(try makeEvent(1))
        let firstHandled = await eventually { await seen.count == 1 }
        XCTAssertTrue(firstHandled)
        _ = try redis.command(["FLUSHALL"])  // like a restart without persistence
        try await Task.sleep(for: .milliseconds(300))
        try await publisher.publish(try makeEvent(2))
        let done = await eventually { await seen.count == 2 }
        await services.stop()
        XCTAssertTrue(done, "NOGROUP recreated the group")
    }

    func testDeadLetterRedrivePutsEntriesBackOnce() async throws {
        let healed = Seen()
        let failing = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { _ in throw TestSupportError("broken") }
        ])
        try await StreamPublisher(client: client(redis)).publish((0..<3).map { try makeEvent($0) })
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        let allDeadLettered = await eventually { (try? self.redis.command(["XLEN", deadLetters]).int) == 3 }
        XCTAssertTrue(allDeadLettered)
        await failing.stop()

        let moved = try await DeadLetterRedrive.redrive(client: client(redis), deadLetterStream: deadLetters)
        XCTAssertEqual(moved, 3)
        let fixed = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { await healed.add($0) }
        ])
        let done = await eventually { await healed.count == 3 }
        await fixed.stop()
        XCTAssertTrue(done)
        XCTAssertEqual(try redis.command(["XLEN", deadLetters]), .integer(0))
        let report = try await StreamsReport.read(client: client(redis))
        XCTAssertEqual(report.streams.map(\.name), ["test-events"])
        XCTAssertEqual(report.streams.first?.groups.first?.pending, 0)
        XCTAssertEqual(report.deadLetters.map(\.length), [0])
    }
}
