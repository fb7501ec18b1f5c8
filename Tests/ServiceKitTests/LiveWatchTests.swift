import Bus
import Foundation
import HTTPTypes
import NIOCore
import NIOPosix
import ServiceKit
import TestSupport
import XCTest

/// `/live` that can fail: an event loop blocked on purpose, a consumer's loop that stops turning.
final class LiveWatchTests: XCTestCase {
    func testLiveAnswers503WhileALoopIsStuckAndRecoversWhenItTurnsAgain() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let watch = LiveWatch(timeout: .milliseconds(300))
        let beat = RunningServices([EventLoopBeat(group: group, watch: watch, interval: .milliseconds(50))])
        let turning = await eventually { watch.stalled().isEmpty && (try? watch.answer(service: "test")) != nil }
        XCTAssertTrue(turning, "every loop turns: live")

        // Block the first event loop for a while, as a handler that never returns would.
        var loops = group.makeIterator()
        let first = try XCTUnwrap(loops.next())
        first.execute { Thread.sleep(forTimeInterval: 1.5) }
        let stuck = await eventually { watch.stalled().map(\.name) == ["event loop 0"] }
        XCTAssertTrue(stuck, "the blocked loop, and only it, is found stuck: \(watch.stalled())")
        do {
            _ = try watch.answer(service: "test")
            XCTFail("/live answered 200 with a loop stuck")
        } catch let error as APIError {
            XCTAssertEqual(error.status, .serviceUnavailable)
            XCTAssertTrue(error.message.contains("event loop 0"), error.message)
        }
        let recovered = await eventually { watch.stalled().isEmpty }
        XCTAssertTrue(recovered, "live again once the loop turns")

        // A consumer's loop that stops going round (a handler stuck forever) fails it too.
        let consumer = LoopProgress()
        watch.watch("consumer delivery", consumer)
        let consumerStuck = await eventually { watch.stalled().map(\.name) == ["consumer delivery"] }
        XCTAssertTrue(consumerStuck)
        consumer.turned()
        XCTAssertTrue(watch.stalled().isEmpty, "a loop that turned is live")
        await beat.stop()
        try await group.shutdownGracefully()
    }
}
