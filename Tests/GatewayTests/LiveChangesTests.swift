import Contracts
import Logging
import Redis
import TestSupport
import XCTest

@testable import Gateway

/// The live pages' feed against a real redis-server: a page subscribes since the position it was
/// rendered at, and hears at once that it missed changes made in between; never twice, never none.
final class LiveChangesTests: XCTestCase {
    func testAPageRenderedBeforeAChangeHearsThatItMissedItAndAPageUpToDateHearsOnlyWhatComesNext() async throws {
        let redis = try await RedisServer()
        let logger = Logger(label: "live-changes-test")
        let live = LiveChanges(client: RedisClient(endpoint: redis.endpoint, logger: logger), logger: logger)
        let writer = try RedisConnection(endpoint: redis.endpoint)
        func change(_ rentalId: String) throws {
            _ = try writer.command(["XADD", Streams.lookupChanges, "*", "rentalId", rentalId, "customerId", "alice"]).orThrow()
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await live.run() }
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
            group.cancelAll()
        }
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
