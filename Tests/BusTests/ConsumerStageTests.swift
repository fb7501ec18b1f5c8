import Foundation
import Redis
import TestSupport
import XCTest

@testable import Bus

/// Each stage of the consumer on its own: the pure decisions without Redis, the Redis calls
/// against a real `redis-server`.
final class ConsumerStageTests: RedisTestCase {
    private func entry(_ id: String, stream: String = "test-events") -> StreamEntry {
        StreamEntry(stream: stream, id: id, fields: ["a": "1"])
    }

    // MARK: Pure

    func testDispatcherAcknowledgesHandledRetriesFailedAndGivesUpAtMaxAttempts() {
        let attempt = { (number: Int) in Attempt(entry: self.entry("1-0"), number: number) }
        XCTAssertEqual(Dispatcher.disposition(of: attempt(1), outcome: nil, maxAttempts: 3), .acknowledge)
        XCTAssertEqual(Dispatcher.disposition(of: attempt(2), outcome: TestSupportError("x"), maxAttempts: 3), .retry)
        XCTAssertEqual(Dispatcher.disposition(of: attempt(3), outcome: TestSupportError("x"), maxAttempts: 3), .deadLetter(reason: "x"))
    }

    func testDispatcherDeadLettersUndecodableEntriesAndAcknowledgesDeletedOnes() async throws {
        let handled = Seen()
        let dispatcher = Dispatcher(
            handler: { events in
                for event in events { await handled.add(event) }
                return events.map { _ in nil }
            }, maxAttempts: 5)
        let good = try makeEvent(1)
        var fields: [String: String] = [:]
        for index in stride(from: 0, to: good.envelope.fields.count, by: 2) {
            fields[good.envelope.fields[index]] = good.envelope.fields[index + 1]
        }
        let results = await dispatcher.handle([
            Attempt(entry: StreamEntry(stream: "s", id: "1-0", fields: fields), number: 1),
            Attempt(entry: StreamEntry(stream: "s", id: "2-0", fields: ["hello": "world"]), number: 1),
            Attempt(entry: StreamEntry(stream: "s", id: "3-0", fields: nil), number: 2),
        ])
        let byId = Dictionary(uniqueKeysWithValues: results.map { ($0.attempt.entry.id, $0.disposition) })
        XCTAssertEqual(byId["1-0"], .acknowledge)
        XCTAssertEqual(byId["3-0"], .acknowledge, "deleted while pending: nothing left to handle")
        guard case .deadLetter(let reason)? = byId["2-0"] else { return XCTFail("garbage not dead-lettered: \(results)") }
        XCTAssertTrue(reason.contains("undecodable"), reason)
        let handledIds = await handled.eventIds
        XCTAssertEqual(handledIds, [good.envelope.id], "only the readable event reaches the handler")
    }

    func testRetryScheduleBacksOffWithinItsLimitAndHandsOutWhatIsDue() {
        let client = client(redis)
        defer { client.close() }
        var schedule = RetrySchedule(
            client: client, group: "g", consumer: "c", backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(10)),
            longestWait: .milliseconds(300))
        let now = ContinuousClock.now
        XCTAssertEqual(schedule.schedule(Attempt(entry: entry("1-0"), number: 1), now: now), .milliseconds(100))
        XCTAssertEqual(schedule.schedule(Attempt(entry: entry("2-0"), number: 3), now: now), .milliseconds(300), "never past the limit")
        schedule.scheduleNow([PendingEntry(id: "3-0", consumer: "c", attempts: 2)], on: "other", now: now)
        XCTAssertEqual(schedule.nextDue, now)

        let dueNow = schedule.takeDue(now: now)
        XCTAssertEqual(dueNow.mapValues { $0.map(\.key.id) }, ["other": ["3-0"]])
        let dueLater = schedule.takeDue(now: now + .milliseconds(150))
        XCTAssertEqual(dueLater["test-events"]?.map(\.key.id), ["1-0"])
        XCTAssertEqual(dueLater["test-events"]?.first?.attempts, 1)
        schedule.forget(EntryKey(stream: "test-events", id: "2-0"))
        XCTAssertTrue(schedule.waiting.isEmpty)
    }

    func testAcknowledgerGroupsByStream() {
        let client = client(redis)
        defer { client.close() }
        var acknowledger = Acknowledger(client: client, group: "g")
        acknowledger.add(entry("1-0", stream: "b"))
        acknowledger.add(entry("1-0", stream: "a"))
        acknowledger.add(entry("2-0", stream: "b"))
        XCTAssertEqual(acknowledger.commands, [["XACK", "a", "g", "1-0"], ["XACK", "b", "g", "1-0", "2-0"]])
    }

    func testDeadLettererCopiesThenAcknowledgesInOneScript() {
        let client = client(redis)
        defer { client.close() }
        let deadLetterer = DeadLetterer(client: client, group: "g", consumer: "c")
        let commands = deadLetterer.commands(for: [.init(attempt: Attempt(entry: entry("7-0"), number: 5), reason: "broken")], at: "now")
        XCTAssertEqual(commands.count, 1)
        let command = commands[0]
        XCTAssertEqual(Array(command.prefix(1)), ["EVAL"])
        XCTAssertEqual(Array(command[2...6]), ["2", "test-events:dead:g", "test-events", "g", "7-0"])
        XCTAssertTrue(command.contains("dead.attempts") && command[command.firstIndex(of: "dead.attempts")! + 1] == "5")
        XCTAssertTrue(command.contains("broken"))
    }

    // MARK: Against Redis

    func testReaderCreatesTheGroupOnceAndReadsEachNewEntryOnce() async throws {
        let reader = StreamReader(client: client(redis), streams: ["test-events"], group: "g", consumer: "c", batchSize: 10)
        try await reader.ensureGroup()
        try await reader.ensureGroup()  // an existing group is kept
        try await StreamPublisher(client: client(redis)).publish((0..<3).map { try makeEvent($0) })
        let first = try await reader.read(waitingAtMost: .milliseconds(100))
        XCTAssertEqual(first.map(\.number), [1, 1, 1])
        XCTAssertEqual(first.compactMap { $0.entry.fields?["key"] }, ["item-0", "item-1", "item-2"])
        let second = try await reader.read(waitingAtMost: .zero)
        XCTAssertEqual(second, [], "new entries only: the three are pending, not new")
        let own = try await reader.ownPending()
        XCTAssertEqual(own["test-events"]?.map(\.id), first.map(\.entry.id))
    }

    func testClaimerTakesOnlyEntriesIdlePastTheThresholdWithTheirAttemptCounts() async throws {
        let reader = StreamReader(client: client(redis), streams: ["test-events"], group: "g", consumer: "crashed", batchSize: 10)
        try await reader.ensureGroup()
        try await StreamPublisher(client: client(redis)).publish((0..<2).map { try makeEvent($0) })
        _ = try await reader.read(waitingAtMost: .zero)
        var claimer = AbandonedEntryClaimer(
            client: client(redis), streams: ["test-events"], group: "g", consumer: "survivor", idle: .milliseconds(300),
            interval: .milliseconds(10), batchSize: 10, logger: .test("claimer"))
        let tooSoon = try await claimer.claimIfDue(now: .now)
        XCTAssertEqual(tooSoon, [], "not idle long enough")
        let idle = await eventually(timeout: .seconds(5)) {
            (try? self.redis.command(["XPENDING", "test-events", "g", "IDLE", "300", "-", "+", "10"]).array?.count) == 2
        }
        XCTAssertTrue(idle)
        claimer.restart()
        let claimed = try await claimer.claimIfDue(now: .now + .seconds(1))
        XCTAssertEqual(claimed.map(\.number), [2, 2], "the crashed consumer's attempt and this one")
        let owners = try await client(redis).pending(on: "test-events", group: "g", count: 10).map(\.consumer)
        XCTAssertEqual(owners, ["survivor", "survivor"])
    }

    func testRetryReclaimsDueEntriesCountingTheAttemptAndAcknowledgerClearsThem() async throws {
        let reader = StreamReader(client: client(redis), streams: ["test-events"], group: "g", consumer: "c", batchSize: 10)
        try await reader.ensureGroup()
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        let read = try await reader.read(waitingAtMost: .zero)
        var schedule = RetrySchedule(client: client(redis), group: "g", consumer: "c", backoff: Backoff(), longestWait: .zero)
        schedule.schedule(try XCTUnwrap(read.first), now: .now)
        let retried = try await schedule.claimDue(now: .now)
        XCTAssertEqual(retried.map(\.number), [2])
        XCTAssertEqual(try redis.command(["XPENDING", "test-events", "g", "-", "+", "1"]).array?.first?.array?[3], .integer(2))

        var acknowledger = Acknowledger(client: client(redis), group: "g")
        for attempt in retried { acknowledger.add(attempt.entry) }
        try await acknowledger.flush()
        XCTAssertEqual(try pendingCount(redis, group: "g"), 0)
        XCTAssertTrue(acknowledger.waiting.isEmpty)
    }

    func testDeadLettererMovesTheEntryAndAcknowledgesIt() async throws {
        let reader = StreamReader(client: client(redis), streams: ["test-events"], group: "g", consumer: "c", batchSize: 10)
        try await reader.ensureGroup()
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        let read = try await reader.read(waitingAtMost: .zero)
        let attempt = try XCTUnwrap(read.first)
        try await DeadLetterer(client: client(redis), group: "g", consumer: "c").deadLetter([
            .init(attempt: attempt, reason: "poison")
        ])
        XCTAssertEqual(try pendingCount(redis, group: "g"), 0)
        let copy = try XCTUnwrap(redis.command(["XRANGE", "test-events:dead:g", "-", "+"]).array?.first?.array?[1]).hash
        XCTAssertEqual(copy["key"], "item-1")
        XCTAssertEqual(copy["dead.error"], "poison")
    }

    func testAnEntryWhoseDeadLetterCopyFailsIsNotAcknowledged() async throws {
        _ = try redis.command(["SET", "test-events:dead:g", "not a stream"])  // the copy fails as it runs (WRONGTYPE)
        let narrow = client(redis)
        let reader = StreamReader(client: narrow, streams: ["test-events"], group: "g", consumer: "c", batchSize: 10)
        try await reader.ensureGroup()
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        let read = try await reader.read(waitingAtMost: .zero)
        let attempt = try XCTUnwrap(read.first)
        do {
            try await DeadLetterer(client: narrow, group: "g", consumer: "c").deadLetter([.init(attempt: attempt, reason: "poison")])
            XCTFail("the copy was refused, yet no error")
        } catch {
            XCTAssertTrue("\(error)".contains("WRONGTYPE"), "\(error)")
        }
        XCTAssertEqual(try pendingCount(redis, group: "g"), 1, "still pending: not acknowledged without its copy")
        XCTAssertEqual(try redis.command(["GET", "test-events:dead:g"]), .string("not a stream"), "no copy was written")
    }
}
