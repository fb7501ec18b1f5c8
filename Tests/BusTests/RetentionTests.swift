import Bus
import Foundation
import Redis
import TestSupport
import XCTest

/// Group-aware trimming against a real `redis-server`: nothing a group has not read goes, except
/// past the hard cap, and then loudly.
final class RetentionTests: RedisTestCase {
    private func trimmer(_ policy: RetentionPolicy, streams: [String] = ["test-events"]) -> StreamTrimmer {
        StreamTrimmer(client: client(redis), streams: streams, policy: policy, logger: .test("trimmer"))
    }

    private func length(_ stream: String = "test-events") -> Int { (try? redis.command(["XLEN", stream]).int) ?? -1 }

    /// Reads `count` entries as `group` and acknowledges them.
    private func readAndAcknowledge(_ count: Int, group: String) throws {
        let reply = try redis.command(["XREADGROUP", "GROUP", group, "c", "COUNT", String(count), "STREAMS", "test-events", ">"])
        let ids = StreamEntry.parseRead(reply).map(\.id)
        if !ids.isEmpty { _ = try redis.command(["XACK", "test-events", group] + ids) }
    }

    func testNothingAGroupHasNotReadIsTrimmedWhateverTheFloor() async throws {
        _ = try redis.command(["XGROUP", "CREATE", "test-events", "slow", "0", "MKSTREAM"])
        _ = try redis.command(["XGROUP", "CREATE", "test-events", "fast", "0"])
        try await StreamPublisher(client: client(redis)).publish((0..<2000).map { try makeEvent($0) })
        try readAndAcknowledge(2000, group: "fast")
        let noFloor = RetentionPolicy(minimumAge: .zero, minimumCount: 0, hardCap: nil)

        let untouched = try await trimmer(noFloor).trim("test-events")
        XCTAssertEqual(untouched.acknowledged, 0, "the slow group has read nothing")
        XCTAssertEqual(length(), 2000)

        try readAndAcknowledge(1200, group: "slow")
        let pendingRead = try redis.command(["XREADGROUP", "GROUP", "slow", "c", "COUNT", "100", "STREAMS", "test-events", ">"])
        let oldestPending = try XCTUnwrap(StreamEntry.parseRead(pendingRead).first?.id)  // read, not acknowledged
        let trimmed = try await trimmer(noFloor).trim("test-events")
        XCTAssertGreaterThan(trimmed.acknowledged, 0, "what every group acknowledged goes")
        let first = try XCTUnwrap(redis.command(["XRANGE", "test-events", "-", "+", "COUNT", "1"]).array?.first?.array?.first?.string)
        XCTAssertLessThanOrEqual(StreamID(first)!, StreamID(oldestPending)!, "the oldest entry a group still holds stays")
        XCTAssertEqual(length(), 2000 - trimmed.acknowledged)
    }

    func testTheFloorKeepsRecentEntriesEvenWhenEveryoneHasReadThem() async throws {
        _ = try redis.command(["XGROUP", "CREATE", "test-events", "g", "0", "MKSTREAM"])
        try await StreamPublisher(client: client(redis)).publish((0..<1000).map { try makeEvent($0) })
        try readAndAcknowledge(1000, group: "g")
        let byAge = try await trimmer(RetentionPolicy(minimumAge: .seconds(3600), minimumCount: 0, hardCap: nil)).trim("test-events")
        XCTAssertEqual(byAge.acknowledged, 0, "younger than an hour")
        let byCount = try await trimmer(RetentionPolicy(minimumAge: .zero, minimumCount: 300, hardCap: nil)).trim("test-events")
        XCTAssertGreaterThan(byCount.acknowledged, 0)
        XCTAssertGreaterThanOrEqual(length(), 300, "the newest 300 stay")
    }

    func testTheHardCapRemovesUnreadEntriesLoudly() async throws {
        _ = try redis.command(["XGROUP", "CREATE", "test-events", "stopped", "0", "MKSTREAM"])
        try await StreamPublisher(client: client(redis)).publish((0..<3000).map { try makeEvent($0) })
        let trimmer = trimmer(RetentionPolicy(minimumAge: .zero, minimumCount: 0, hardCap: 1000))
        let trimmed = try await trimmer.trim("test-events")
        XCTAssertEqual(trimmed.acknowledged, 0)
        XCTAssertGreaterThan(trimmed.capped, 0)
        XCTAssertLessThan(length(), 3000)
        XCTAssertEqual(trimmer.capTrimmed.withLock { $0["test-events"] }, trimmed.capped, "/health shows it")
        let report = try await StreamsReport.read(client: client(redis))
        XCTAssertEqual(report.streams.first?.capTrimmed, trimmed.capped, "`bookdelivery streams` shows it")
        XCTAssertTrue(report.text.contains("removed by the hard cap, read or not: test-events=\(trimmed.capped)"), report.text)
    }

    func testDeadLetterStreamsKeepTheirFloorOnly() async throws {
        let deadLetters = DeadLetter.stream(for: "test-events", group: "g")
        for index in 0..<500 { _ = try redis.command(["XADD", deadLetters, "*", "n", String(index)]) }
        let kept = try await trimmer(RetentionPolicy(minimumAge: .seconds(3600), minimumCount: 0, hardCap: nil), streams: [deadLetters])
            .trim(deadLetters)
        XCTAssertEqual(kept.acknowledged, 0, "younger than the floor")
        let trimmed = try await trimmer(RetentionPolicy(minimumAge: .zero, minimumCount: 100, hardCap: nil), streams: [deadLetters])
            .trim(deadLetters)
        XCTAssertGreaterThan(trimmed.acknowledged, 0)
        XCTAssertGreaterThanOrEqual(length(deadLetters), 100)
    }

    func testPublishingNoLongerCapsTheStream() async throws {
        try await StreamPublisher(client: client(redis)).publish(try makeEvent(1))
        let found = try await client(redis).streamInfo("test-events")
        let info = try XCTUnwrap(found)
        XCTAssertEqual(info.length, 1)
        XCTAssertEqual(info.entriesAdded, 1)
        let nothing = try await client(redis).streamInfo("no-such-stream")
        XCTAssertNil(nothing)
    }

    /// A retired service's group holds the stream back; retiring it lets trimming go on, but only
    /// once it has no work left, unless forced.
    func testARetiredGroupIsDestroyedWhenItHasNoWorkLeftOrWhenForcedAndTrimmingGoesOn() async throws {
        _ = try redis.command(["XGROUP", "CREATE", "test-events", "retired", "0", "MKSTREAM"])
        _ = try redis.command(["XGROUP", "CREATE", "test-events", "live", "0"])
        try await StreamPublisher(client: client(redis)).publish((0..<100).map { try makeEvent($0) })
        try readAndAcknowledge(100, group: "live")
        let noFloor = RetentionPolicy(minimumAge: .zero, minimumCount: 0, hardCap: nil)
        let heldBack = try await trimmer(noFloor).trim("test-events")
        XCTAssertEqual(heldBack.acknowledged, 0, "the retired service's group has read nothing")

        let refused = try await GroupRetirement.retire("retired", client: client(redis), force: false)
        XCTAssertEqual(
            refused, .refused([.init(stream: "test-events", consumers: 0, pending: 0, lag: 100)]), "100 unread: not without --force")
        let retired = try await GroupRetirement.retire("retired", client: client(redis), force: true)
        guard case .retired(let found) = retired else { return XCTFail("\(retired)") }
        XCTAssertEqual(found.map(\.stream), ["test-events"])
        let groups = try redis.command(["XINFO", "GROUPS", "test-events"]).array?.compactMap { $0.hash["name"] }
        XCTAssertEqual(groups, ["live"], "destroyed, the other group untouched")
        let trimmed = try await trimmer(noFloor).trim("test-events")
        XCTAssertGreaterThan(trimmed.acknowledged, 0, "trimming goes on once the group is gone")

        let done = try await GroupRetirement.retire("live", client: client(redis), force: false)
        guard case .retired = done else { return XCTFail("a group with no work left goes without --force: \(done)") }
        let missing = try await GroupRetirement.retire("nobody", client: client(redis), force: false)
        XCTAssertEqual(missing, .notFound)
    }
}
