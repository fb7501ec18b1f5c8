import Contracts
import Logging
import Redis
import TestSupport
import XCTest

@testable import Gateway

/// The live pages' feed against a real redis-server: a page subscribes since the position it was
/// rendered at, and hears at once that it missed changes made in between; never twice, never none.
/// The feed is read only while a page listens.
final class LiveChangesTests: XCTestCase {
    func testAPageRenderedBeforeAChangeHearsThatItMissedItAndAPageUpToDateHearsOnlyWhatComesNext() async throws {
        let (redis, live, writer) = try await Self.feed()
        func change(_ rentalId: String) throws { try Self.change(rentalId, by: writer) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await live.run() }
            // An open page keeps the feed followed.
            let open = try XCTUnwrap(live.subscribe(since: nil))
            let started = await eventually(timeout: .seconds(10)) { !live.position.isEmpty }
            XCTAssertTrue(started, "the feed knows where it is once it has read the stream")

            // A page rendered here, then a change before the page subscribes.
            let rendered = live.position
            try change("r1")
            let moved = await eventually(timeout: .seconds(10)) { live.position != rendered }
            XCTAssertTrue(moved, "the feed saw the change")
            let late = try XCTUnwrap(live.subscribe(since: rendered))
            let lateFirst = await Self.first(of: late.signals)
            XCTAssertEqual(lateFirst, .missed, "the late page reads again at once")
            live.unsubscribe(late.id)

            // A page up to date hears nothing until the next change, and then that change.
            let current = try XCTUnwrap(live.subscribe(since: live.position))
            try change("r2")
            let currentFirst = await Self.first(of: current.signals)
            XCTAssertEqual(currentFirst, .change(.init(rentalId: "r2", customerId: "alice")))
            live.unsubscribe(current.id)

            // A page that does not say where it was (an old script, a hand-made request) reads again.
            let unknown = try XCTUnwrap(live.subscribe(since: nil))
            let unknownFirst = await Self.first(of: unknown.signals)
            XCTAssertEqual(unknownFirst, .missed)
            live.unsubscribe(unknown.id)
            live.unsubscribe(open.id)
            group.cancelAll()
        }
        withExtendedLifetime(redis) {}  // the server lives until here
    }

    func testTheFeedIsReadOnlyWhileAPageListensAndAPageThatComesHearsOfMissedChangesOnceThePositionIsKnown() async throws {
        let (redis, live, writer) = try await Self.feed()
        func change(_ rentalId: String) throws { try Self.change(rentalId, by: writer) }
        /// How many `XREAD`s Redis has answered.
        func reads() throws -> Int {
            let info = try writer.command(["INFO", "commandstats"]).orThrow().string ?? ""
            guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_xread:") }),
                let calls = line.split(separator: "=").dropFirst().first?.split(separator: ",").first
            else { return 0 }
            return Int(calls) ?? 0
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await live.run() }
            // Followed while a page listens; forgotten once it leaves.
            let first = try XCTUnwrap(live.subscribe(since: nil))
            let followed = try await eventually(timeout: .seconds(10)) { try reads() > 0 }
            XCTAssertTrue(followed, "the feed is read while a page listens")
            live.unsubscribe(first.id)
            let idle = await eventually(timeout: .seconds(10)) { live.position.isEmpty }
            XCTAssertTrue(idle, "with nobody listening the feed forgets where it is")

            // Nobody listens: changes come, and the feed is not read.
            let before = try reads()
            try change("r1")
            let readForNobody = try await eventually(timeout: .seconds(3)) { try reads() > before }
            XCTAssertFalse(readForNobody, "the feed is not read while no page listens")

            // A page rendered meanwhile (at no position) hears that it missed changes, and only once
            // the feed knows where it is: what it reads again is as new as that, and the next change is heard.
            let page = try XCTUnwrap(live.subscribe(since: live.position))
            let missed = await Self.first(of: page.signals)
            XCTAssertEqual(missed, .missed)
            XCTAssertFalse(live.position.isEmpty, "the position was known before the page was told to read again")
            try change("r2")
            let next = await Self.first(of: page.signals)
            XCTAssertEqual(next, .change(.init(rentalId: "r2", customerId: "alice")), "r1 came before the position, r2 after")
            live.unsubscribe(page.id)
            group.cancelAll()
        }
        withExtendedLifetime(redis) {}  // the server lives until here
    }

    /// A redis-server, a feed on it (not running yet) and a connection to write changes with.
    private static func feed() async throws -> (RedisServer, LiveChanges, RedisConnection) {
        let redis = try await RedisServer()
        let logger = Logger(label: "live-changes-test")
        let live = LiveChanges(client: RedisClient(endpoint: redis.endpoint, logger: logger), logger: logger)
        return (redis, live, try RedisConnection(endpoint: redis.endpoint))
    }

    /// A change of alice's rental `rentalId`, as Lookup appends it.
    private static func change(_ rentalId: String, by writer: RedisConnection) throws {
        _ = try writer.command(["XADD", Streams.lookupChanges, "*", "rentalId", rentalId, "customerId", "alice"]).orThrow()
    }

    /// The first signal, or nil when none comes within 10 s.
    private static func first(of signals: AsyncStream<LiveChanges.Signal>) async -> LiveChanges.Signal? {
        await withTaskGroup(of: LiveChanges.Signal?.self) { group in
            group.addTask {
                for await signal in signals where signal != .heartbeat { return signal }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
