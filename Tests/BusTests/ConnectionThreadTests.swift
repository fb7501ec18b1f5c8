import Bus
import Foundation
import Redis
import Synchronization
import TestSupport
import XCTest

/// A client's connection thread as the executor of the tasks that mostly talk to it.
final class ConnectionThreadTests: RedisTestCase {
    /// The connection's thread, as a number to compare.
    private func connectionThread(of client: RedisClient) async throws -> UInt {
        try await client.withConnection { _ in UInt(pthread_self()) }
    }

    func testATaskPreferringTheClientsExecutorRunsOnTheConnectionsThread() async throws {
        let client = client(redis)
        let connection = try await connectionThread(of: client)
        let (inTask, inCall) = try await withTaskExecutorPreference(client.executor) {
            let before = UInt(pthread_self())
            _ = try await client.command(["PING"])
            return (before, UInt(pthread_self()))
        }
        XCTAssertEqual(inTask, connection, "the task's own code runs on the connection's thread")
        XCTAssertEqual(inCall, connection, "and is back there after its call")
        let elsewhere = UInt(pthread_self())
        XCTAssertNotEqual(elsewhere, connection, "a task that does not prefer it runs on the pool")
    }

    func testAConsumersHandlerRunsOnItsConnectionsThread() async throws {
        let client = client(redis)
        let connection = try await connectionThread(of: client)
        let threads = Mutex<[UInt]>([])
        let consumer = StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client, logger: .test("c")) { _ in
            threads.withLock { $0.append(UInt(pthread_self())) }
        }
        let services = RunningServices([consumer])
        try await StreamPublisher(client: BusTests.client(redis)).publish((0..<3).map { try makeEvent($0) })
        let done = await eventually { drained(self.redis, group: "g") }
        await services.stop()
        XCTAssertTrue(done)
        XCTAssertEqual(threads.withLock { $0 }, [connection, connection, connection])
    }

    /// Once its client is closed, the thread is gone: a task that still prefers it finishes on the
    /// global executor instead of waiting forever.
    func testATaskPreferringAClosedClientsExecutorStillFinishes() async throws {
        let client = client(redis)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let result = Mutex<Int?>(nil)
        let task = Task {
            await withTaskExecutorPreference(client.executor) {
                var sum = 0
                for await number in stream { sum += number }
                result.withLock { $0 = sum }
            }
        }
        continuation.yield(1)
        client.close()
        _ = try? await client.command(["PING"])  // refused: the thread has stopped
        continuation.yield(2)
        continuation.finish()
        let finished = await eventually { result.withLock { $0 } != nil }
        XCTAssertTrue(finished, "the task ran on after its executor's thread stopped")
        XCTAssertEqual(result.withLock { $0 }, 3)
        task.cancel()
    }

    /// The thread rule, checked (``ConsumerThread``): a handler blocks on its consumer's thread; one
    /// that moved itself off it is refused, loudly (the consumer pauses with the rule's name as the
    /// reason, the entry stays pending), instead of blocking a shared thread.
    func testAHandlerMayBlockOnlyOnItsConsumersThread() async throws {
        let blocked = Mutex<Int>(0)
        let leaves = Mutex<Bool>(false)
        let consumer = StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { _ in
            let thread = try XCTUnwrap(ConsumerThread.current, "a consumer's handler has its thread")
            if leaves.withLock({ $0 }) {
                try await withTaskExecutorPreference(globalConcurrentExecutor) {
                    try thread.block { blocked.withLock { $0 += 1 } }
                }
            } else {
                try thread.block { blocked.withLock { $0 += 1 } }
            }
        }
        let services = RunningServices([consumer])
        try await StreamPublisher(client: BusTests.client(redis)).publish(try makeEvent(1))
        let handled = await eventually { drained(self.redis, group: "g") }
        XCTAssertTrue(handled, "on its thread the handler blocks, and the entry is acknowledged")
        XCTAssertEqual(blocked.withLock { $0 }, 1)

        leaves.withLock { $0 = true }
        try await StreamPublisher(client: BusTests.client(redis)).publish(try makeEvent(2))
        let refused = await eventually { consumer.stats.snapshot.pauseReason != nil }
        await services.stop()
        XCTAssertTrue(refused, "off its thread the handler is refused")
        XCTAssertTrue(consumer.stats.snapshot.pauseReason?.contains("the rule in ConsumerThread is broken") ?? false)
        XCTAssertEqual(blocked.withLock { $0 }, 1, "nothing ran off the thread")
        let pending = try redis.command(["XPENDING", "test-events", "g"]).array?.first?.int
        XCTAssertEqual(pending, 1, "the entry is held, not acknowledged nor dead-lettered")
        XCTAssertEqual(try redis.command(["XLEN", DeadLetter.stream(for: "test-events", group: "g")]), .integer(0))
        XCTAssertNil(ConsumerThread.current, "outside a handler there is none")
    }

    /// A consumer whose Redis is away is waiting, not wedged: its loop keeps going round, so its
    /// process stays live (``LoopProgress``, which `/live` reads).
    func testAConsumerWhoseRedisIsAwayKeepsTurning() async throws {
        let consumer = StreamConsumer(configuration: .fast(group: "g", consumer: "c"), client: client(redis), logger: .test("c")) { _ in }
        let services = RunningServices([consumer])
        let started = await eventually { consumer.stats.snapshot.groupReady }
        XCTAssertTrue(started)
        redis.kill()
        // Watched for 3 s, more than its reconnect backoff's longest wait (0.5 s) several times over.
        var longest: Duration = .zero
        let until = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < until {
            longest = max(longest, consumer.stats.progress.idle())
            try await Task.sleep(for: .milliseconds(50))
        }
        await services.stop()
        XCTAssertLessThan(longest, .seconds(2), "the loop went round while Redis was away (longest pause \(longest))")
    }
}
