import Bus
import Foundation
import Redis
import TestSupport
import XCTest

/// Consumer groups against a real `redis-server`: every event reaches every group once, shared
/// among the group's consumers.
final class ConsumerGroupTests: RedisTestCase {
    func testPublishThenSubscribeKeepsPayloadAndFields() async throws {
        let publisher = StreamPublisher(client: client(redis))
        let event = try makeEvent(7)
        let entryId = try await publisher.publish(event)

        let seen = Seen()
        let consumer = StreamConsumer(configuration: .fast(group: "g", consumer: "c1"), client: client(redis), logger: .test("c")) {
            await seen.add($0)
        }
        let services = RunningServices([consumer])
        let arrived = await eventually { await seen.count == 1 }
        let acknowledged = await eventually { drained(self.redis, group: "g") }
        await services.stop()

        XCTAssertTrue(arrived)
        XCTAssertTrue(acknowledged, "acknowledged as soon as it was handled, without waiting for the next read")
        let entries = await seen.entries
        let received = try XCTUnwrap(entries.first)
        XCTAssertEqual(received.envelope, event.envelope)
        XCTAssertEqual(received.entryId, entryId)
        XCTAssertEqual(received.stream, "test-events")
        XCTAssertEqual(received.attempt, 1)
        XCTAssertEqual(try received.envelope.payload(as: Numbered.self), Numbered(number: 7, text: "héllo \"7\""))

        // The raw entry reads well in redis-cli: the envelope's fields, in order.
        let raw = try redis.command(["XRANGE", "test-events", "-", "+"])
        let fields = raw.array?.first?.array?[1].strings ?? []
        XCTAssertEqual(
            stride(from: 0, to: fields.count, by: 2).map { fields[$0] },
            EventEnvelope.fieldNames.filter { !["requestId", "traceparent", "tracestate"].contains($0) },
            "requestId only where a request started the flow")
    }

    func testManyPublishersAndThreeConsumersLoseNothingAndDuplicateNothing() async throws {
        let total = 5_000
        let seen = Seen()
        let consumers = (1...3).map { index in
            StreamConsumer(configuration: .fast(group: "workers", consumer: "c\(index)"), client: client(redis), logger: .test("c")) {
                event in
                await seen.add(event, consumer: "c\(index)")
            }
        }
        let services = RunningServices(consumers)
        let publishers = (0..<10).map { _ in StreamPublisher(client: client(redis)) }
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
        let done = await eventually { drained(self.redis, group: "workers") }
        await services.stop()

        XCTAssertTrue(done)
        let count = await seen.count
        let unique = await seen.uniqueCount
        XCTAssertEqual(count, total, "each event handled exactly once")
        XCTAssertEqual(unique, total)
        let perConsumer = await seen.consumers
        XCTAssertEqual(perConsumer.count, 3, "all three consumers took part: \(perConsumer)")
        XCTAssertEqual(
            consumers.map(\.stats.snapshot.handled), ["c1", "c2", "c3"].map { perConsumer[$0] ?? -1 }, "the consumers' own counts agree")
    }

    func testTwoGroupsEachGetEverything() async throws {
        try await StreamPublisher(client: client(redis)).publish((0..<200).map { try makeEvent($0) })
        let first = Seen()
        let second = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "first", consumer: "a"), client: client(redis), logger: .test("c")) {
                await first.add($0)
            },
            StreamConsumer(configuration: .fast(group: "second", consumer: "a"), client: client(redis), logger: .test("c")) {
                await second.add($0)
            },
        ])
        let done = await eventually { drained(self.redis, group: "first") && drained(self.redis, group: "second") }
        await services.stop()
        XCTAssertTrue(done)
        let counts = [await first.count, await first.uniqueCount, await second.count, await second.uniqueCount]
        XCTAssertEqual(counts, [200, 200, 200, 200])
    }

    func testGroupCreatedLaterReceivesTheHistory() async throws {
        try await StreamPublisher(client: client(redis)).publish((0..<50).map { try makeEvent($0) })
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "latecomer", consumer: "c"), client: client(redis), logger: .test("c")) {
                await seen.add($0)
            }
        ])
        let done = await eventually { drained(self.redis, group: "latecomer") }
        await services.stop()
        XCTAssertTrue(done)
        let keys = await seen.entries.map(\.envelope.key)
        XCTAssertEqual(keys, (0..<50).map { "item-\($0)" }, "in stream order, once each")
    }

    func testConsumerClosedAndReopenedLosesNothing() async throws {
        let publisher = StreamPublisher(client: client(redis))
        let seen = Seen()
        let handler: StreamConsumer.Handler = { event in
            await seen.add(event)
            try await Task.sleep(for: .milliseconds(1))  // slow enough to be stopped mid-stream
        }
        try await publisher.publish((0..<600).map { try makeEvent($0) })
        let first = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c"), handler: handler)
        ])
        _ = await eventually { await seen.count >= 50 }
        await first.stop()
        let handledBeforeStop = await seen.count
        // A batch is 200: the stop finishes the batch in hand and the one read ahead, and no more.
        XCTAssertLessThan(handledBeforeStop, 600, "stopped mid-stream")
        XCTAssertEqual(try pendingCount(redis, group: "g"), 0, "a graceful stop acknowledges the batch in flight")

        try await publisher.publish((600..<700).map { try makeEvent($0) })
        let second = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c"), handler: handler)
        ])
        let done = await eventually { drained(self.redis, group: "g") }
        await second.stop()
        XCTAssertTrue(done)
        let count = await seen.count
        let unique = await seen.uniqueCount
        XCTAssertEqual([count, unique], [700, 700], "nothing lost, nothing handled twice")
    }

    /// While a full batch is handled, the next one is already read (both are pending at the
    /// consumer), so Redis and the handler work at the same time.
    func testTheNextBatchIsReadWhileAFullOneIsHandled() async throws {
        try await StreamPublisher(client: client(redis)).publish((0..<30).map { try makeEvent($0) })
        let redis = self.redis!
        let (done, sawReadAhead, seen) = await consumeWithABatchOf10(streams: ["test-events"]) {
            (try? pendingCount(redis, group: "g")) == 20
        }
        XCTAssertTrue(done)
        XCTAssertEqual(sawReadAhead, 1, "the second batch was pending while the first was handled")
        let keys = await seen.entries.map(\.envelope.key)
        XCTAssertEqual(keys, (0..<30).map { "item-\($0)" }, "in stream order, once each")
    }

    /// The same with a handler that holds the consumer's thread, as a synchronous SQLite write does
    /// (`ConsumerThread`): the next read must already be on its way to Redis, not a job queued on
    /// that thread behind the handler (what it was, until the consumer wrote it first).
    func testTheNextBatchIsReadWhileAHandlerHoldsTheConsumersThread() async throws {
        try await StreamPublisher(client: client(redis)).publish((0..<30).map { try makeEvent($0) })
        let redis = self.redis!
        let (done, sawReadAhead, seen) = await consumeWithABatchOf10(streams: ["test-events"], holdingTheThread: true) {
            (try? pendingCount(redis, group: "g")) == 20
        }
        XCTAssertTrue(done)
        XCTAssertEqual(sawReadAhead, 1, "the second batch was pending while the first was handled on the consumer's thread")
        let keys = await seen.entries.map(\.envelope.key)
        XCTAssertEqual(keys, (0..<30).map { "item-\($0)" }, "in stream order, once each")
    }

    /// `COUNT` applies to each stream: a read of two streams can bring twice the batch size, and
    /// that too means a backlog to read ahead of.
    func testAConsumerOfTwoStreamsReadsAheadToo() async throws {
        let publisher = StreamPublisher(client: client(redis))
        try await publisher.publish((0..<15).map { try makeEvent($0, stream: "a") } + (15..<30).map { try makeEvent($0, stream: "b") })
        let redis = self.redis!
        let (done, sawReadAhead, seen) = await consumeWithABatchOf10(streams: ["a", "b"]) {
            (try? pendingCount(redis, stream: "a", group: "g")) == 15 && (try? pendingCount(redis, stream: "b", group: "g")) == 15
        }
        XCTAssertTrue(done)
        XCTAssertEqual(sawReadAhead, 1, "the rest of both streams was pending while the first read (10 + 10) was handled")
        let unique = await seen.uniqueCount
        XCTAssertEqual(unique, 30)
    }

    /// Runs a consumer of `streams` (group "g", batches of 10) until every stream is drained. While
    /// it handles "item-0", its handler waits up to 10 s for `readAhead`, what Redis shows once the
    /// next read is in: suspended, or `holdingTheThread`. Returns whether the streams were drained,
    /// how often that came true, and what the consumer handled.
    private func consumeWithABatchOf10(
        streams: [String], holdingTheThread: Bool = false, readAhead: @escaping @Sendable () -> Bool
    ) async -> (drained: Bool, readAheadSeen: Int, seen: Seen) {
        var configuration = StreamConsumer.Configuration.fast(streams: streams, group: "g", consumer: "c")
        configuration.batchSize = 10
        let sawReadAhead = Seen()
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: configuration, client: client(redis), logger: .test("c")) { event in
                if event.envelope.key == "item-0" {
                    let seenAhead =
                        holdingTheThread
                        ? (try? ConsumerThread.current?.block { eventuallyHoldingTheThread(timeout: .seconds(10), readAhead) }) ?? false
                        : await eventually(timeout: .seconds(10), readAhead)
                    if seenAhead { await sawReadAhead.add(event) }
                }
                await seen.add(event)
            }
        ])
        let done = await eventually { streams.allSatisfy { drained(self.redis, stream: $0, group: "g") } }
        await services.stop()
        return (done, await sawReadAhead.count, seen)
    }

    func testGroupRecreatedWhenRedisComesBackEmpty() async throws {
        let seen = Seen()
        let services = RunningServices([
            StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) {
                await seen.add($0)
            }
        ])
        let publisher = StreamPublisher(client: client(redis))
        try await publisher.publish(try makeEvent(1))
        let firstHandled = await eventually { await seen.count == 1 }
        XCTAssertTrue(firstHandled)
        _ = try redis.command(["FLUSHALL"])  // like a restart without persistence
        try await publisher.publish(try makeEvent(2))
        let done = await eventually { await seen.count == 2 && drained(self.redis, group: "g") }
        await services.stop()
        XCTAssertTrue(done, "NOGROUP recreated the group, which read the stream from its start")
        let keys = await seen.entries.map(\.envelope.key)
        XCTAssertEqual(keys, ["item-1", "item-2"])
    }
}
