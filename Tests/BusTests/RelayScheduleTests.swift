import XCTest

@testable import Bus

/// The relay's clocks, without a relay (``RelaySchedule``).
final class RelayScheduleTests: XCTestCase {
    private let start = ContinuousClock.now

    private func schedule() -> RelaySchedule {
        RelaySchedule(pollInterval: .seconds(1), pruneInterval: .seconds(60), now: start)
    }

    func testTheTableIsClaimedFromAtStartEveryIntervalAndAlwaysWhileTheHandOffIsSuspended() {
        var schedule = schedule()
        XCTAssertTrue(schedule.takePoll(now: start, handoffActive: true), "a starting relay claims from the table")
        XCTAssertFalse(schedule.takePoll(now: start + .milliseconds(999), handoffActive: true), "the hand-off has the new rows")
        XCTAssertTrue(schedule.takePoll(now: start + .milliseconds(500), handoffActive: false), "suspended: the table is the source")
        XCTAssertTrue(schedule.takePoll(now: start + .milliseconds(600), handoffActive: false), "every round while suspended")
        XCTAssertFalse(schedule.takePoll(now: start + .milliseconds(1_599), handoffActive: true), "an interval after the last poll taken")
        XCTAssertTrue(schedule.takePoll(now: start + .milliseconds(1_600), handoffActive: true))
        XCTAssertEqual(schedule.nextPoll, start + .milliseconds(2_600))
    }

    func testPruningIsDueAtStartThenOncePerInterval() {
        var schedule = schedule()
        XCTAssertTrue(schedule.takePrune(now: start))
        XCTAssertFalse(schedule.takePrune(now: start + .seconds(59)))
        XCTAssertTrue(schedule.takePrune(now: start + .seconds(61)))
        XCTAssertFalse(schedule.takePrune(now: start + .seconds(62)), "taken: the next is an interval later")
    }

    func testTheSleepEndsAtTheEarliestOfThePollTheLossCheckAndTheMarks() {
        var schedule = schedule()
        _ = schedule.takePoll(now: start, handoffActive: true)  // next poll: start + 1 s
        let poll = start + .seconds(1)
        XCTAssertEqual(schedule.sleepUntil(lossCheck: start + .seconds(5), marksDue: nil), poll, "nothing sooner than the poll")
        XCTAssertEqual(schedule.sleepUntil(lossCheck: start + .milliseconds(300), marksDue: nil), start + .milliseconds(300))
        XCTAssertEqual(
            schedule.sleepUntil(lossCheck: start + .seconds(5), marksDue: start + .milliseconds(50)), start + .milliseconds(50),
            "rows waiting for their published mark")
    }
}
