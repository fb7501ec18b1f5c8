import Bus
import Foundation
import Redis
import TestSupport
import XCTest

/// What the gateway exports as each group's lag (``GroupLag``), against a real `redis-server`:
/// entries not delivered, pending, finished, and the age of the oldest one not finished.
final class GroupLagTests: RedisTestCase {
    private func read(_ count: Int, group: String, acknowledge: Bool) throws -> [String] {
        let reply = try redis.command(["XREADGROUP", "GROUP", group, "c", "COUNT", String(count), "STREAMS", "test-events", ">"])
        let ids = StreamEntry.parseRead(reply).map(\.id)
        if acknowledge && !ids.isEmpty { _ = try redis.command(["XACK", "test-events", group] + ids) }
        return ids
    }

    private func lag(_ reading: GroupLag.Reading, _ group: String) throws -> GroupLag {
        try XCTUnwrap(reading.groups.first { $0.stream == "test-events" && $0.group == group })
    }

    func testEachGroupsLagInEntriesAndInSecondsOfItsOldestUnfinishedEntry() async throws {
        for group in ["idle", "behind", "done"] {
            _ = try redis.command(["XGROUP", "CREATE", "test-events", group, "0", "MKSTREAM"])
        }
        // Ten entries added "a minute ago" (explicit ids), then ten now.
        let minuteAgo = UInt64(Date().timeIntervalSince1970 * 1000) - 60_000
        for index in 0..<10 {
            _ = try redis.command(["XADD", "test-events", "\(minuteAgo + UInt64(index))-0", "n", String(index)])
        }
        try await StreamPublisher(client: client(redis)).publish((0..<10).map { try makeEvent($0) })
        _ = try read(20, group: "done", acknowledge: true)
        _ = try read(10, group: "behind", acknowledge: true)  // the old ten finished
        let pending = try read(3, group: "behind", acknowledge: false)  // three of the new ones in hand

        let reading = try await GroupLag.read(client: client(redis))
        let idle = try lag(reading, "idle")
        XCTAssertEqual(idle.undelivered, 20)
        XCTAssertEqual(idle.pending, 0)
        XCTAssertEqual(idle.finished, 0)
        XCTAssertEqual(idle.oldestUnfinishedAge, 60, accuracy: 5, "its oldest entry is the minute-old one")

        let behind = try lag(reading, "behind")
        XCTAssertEqual(behind.undelivered, 7)
        XCTAssertEqual(behind.pending, 3)
        XCTAssertEqual(behind.finished, 10)
        XCTAssertLessThan(behind.oldestUnfinishedAge, 5, "its oldest unfinished entry is a new, pending one")
        XCTAssertEqual(pending.count, 3)

        let done = try lag(reading, "done")
        XCTAssertEqual(done.undelivered, 0)
        XCTAssertEqual(done.finished, 20)
        XCTAssertEqual(done.oldestUnfinishedAge, 0, "nothing left")
        XCTAssertEqual(reading.capTrimmed["test-events"], 0, "every stream has its count, 0 for none")
    }

    func testDeadLetterStreamsAreCountedApartFromTheGroups() async throws {
        _ = try redis.command(["XGROUP", "CREATE", "test-events", "g", "0", "MKSTREAM"])
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        _ = try redis.command(["XADD", deadLetters, "*", "n", "1"])
        _ = try redis.command(["XADD", deadLetters, "*", "n", "2"])
        let reading = try await GroupLag.read(client: client(redis))
        XCTAssertEqual(reading.deadLetters.map(\.length), [2])
        XCTAssertEqual(reading.deadLetters.first?.stream, "test-events")
        XCTAssertEqual(reading.deadLetters.first?.group, "g")
        XCTAssertFalse(reading.groups.contains { $0.stream == deadLetters }, "a dead-letter stream is no stream of groups")
    }
}
