import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import TestSupport
import XCTest

@testable import Gateway

/// The share of the API's requests turned away by how busy the loop is (``LoopPressure``).
final class LoopPressureTests: XCTestCase {
    private let tick = Duration.milliseconds(10)

    private func pressure(_ ticks: [Double]) -> LoopPressure {
        let pressure = LoopPressure(settings: .init(limit: 0.9))
        for demand in ticks { pressure.measured(demand: demand, over: tick) }
        return pressure
    }

    func testNothingIsTurnedAwayWhileTheLoopHasMomentsToSpare() {
        let spare = pressure(Array(repeating: 0.85, count: 500))
        XCTAssertEqual(spare.demand, 0.85, accuracy: 0.001)
        XCTAssertEqual(spare.share, 0)
        XCTAssertFalse((0..<1000).contains { _ in spare.turnsAway() })
    }

    func testAtFullDemandTheShareGrowsToAllInHalfASecondAndFallsOnceTheLoopKeepsUp() {
        let full = pressure(Array(repeating: 1, count: 10))
        XCTAssertGreaterThan(full.share, 0, "within 100 ms")
        XCTAssertLessThan(full.share, 0.3)
        for _ in 0..<60 { full.measured(demand: 1, over: tick) }
        XCTAssertEqual(full.share, 1, "after 700 ms")
        XCTAssertTrue((0..<100).allSatisfy { _ in full.turnsAway() }, "every request, the first included")
        for _ in 0..<30 { full.measured(demand: 0.5, over: tick) }
        XCTAssertEqual(full.share, 0, "300 ms of half the demand")
    }

    func testWithoutALimitTheDemandIsMeasuredAndNothingIsTurnedAway() {
        let measuring = LoopPressure(settings: .init(limit: nil))
        for _ in 0..<100 { measuring.measured(demand: 1, over: tick) }
        XCTAssertEqual(measuring.demand, 1, accuracy: 0.001)
        XCTAssertEqual(measuring.share, 0)
        XCTAssertFalse(measuring.turnsAway())
    }

    func testOneLongBusyTurnCountsByItsLength() {
        let held = pressure([0.2, 0.2])
        held.measured(demand: 0.98, over: .milliseconds(600))
        XCTAssertGreaterThan(held.demand, 0.97)
        XCTAssertGreaterThan(held.share, 0.8)
    }

    func testTheShareIsSpreadEvenlyOverTheRequests() {
        let partly = pressure(Array(repeating: 1, count: 25))
        let share = partly.share
        XCTAssertEqual(share, 0.4, accuracy: 0.2)
        let turnedAway = (0..<1000).map { _ in partly.turnsAway() }
        XCTAssertEqual(Double(turnedAway.filter { $0 }.count), 1000 * share, accuracy: 1)
        let at = turnedAway.indices.filter { turnedAway[$0] }
        let gaps = Set(zip(at, at.dropFirst()).map { $1 - $0 })
        let every = 1 / share
        XCTAssertTrue(gaps.isSubset(of: [Int(every.rounded(.down)), Int(every.rounded(.up))]), "never in runs: \(gaps)")
    }

    func testWithALimitEachLoopsStatisticsAreReadFromAFileThatIsClosedWhenTheMeasuringStops() async throws {
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let group = ServiceGroup(
            services: [LoopPressures(group: loops, settings: .init(limit: 0.9))], gracefulShutdownSignals: [], logger: Logger(label: "test")
        )
        let running = Task { try await group.run() }
        let opened = await eventually(timeout: .seconds(10)) { Self.schedstatFilesOpen() == 1 }
        XCTAssertTrue(opened, "one per loop, kept open")
        await group.triggerGracefulShutdown()
        try await running.value
        let closed = await eventually(timeout: .seconds(10)) { Self.schedstatFilesOpen() == 0 }
        XCTAssertTrue(closed, "closed once it stopped")
        try await loops.shutdownGracefully()
    }

    /// Without a limit nothing is read every 10 ms: the loop's total is read when `/metrics` asks.
    func testWithoutALimitTheLoopsTimeIsReadWhenAskedAndGrowsByWhatItsThreadRan() async throws {
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pressures = LoopPressures(group: loops, settings: .init(limit: nil))
        let group = ServiceGroup(services: [pressures], gracefulShutdownSignals: [], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        let pressure = pressures.all[0]
        let known = await eventually(timeout: .seconds(10)) { pressure.demandSeconds != nil }
        XCTAssertTrue(known, "the loop's thread learnt")
        XCTAssertEqual(Self.schedstatFilesOpen(), 0, "no file kept open, no timer")
        let before = try XCTUnwrap(pressure.demandSeconds)
        try await loops.next().submit {
            let until = ContinuousClock.now + .milliseconds(300)
            while ContinuousClock.now < until {}
        }.get()
        let after = try XCTUnwrap(pressure.demandSeconds)
        // The kernel adds a running thread's time at its ticks and switches, so a reading taken just
        // as the loop finishes may lack the last few milliseconds (one read 298 ms).
        XCTAssertGreaterThanOrEqual(after - before, 0.25, "the 300 ms it ran, and any wait for a core")
        await group.triggerGracefulShutdown()
        try await running.value
        try await loops.shutdownGracefully()
    }

    /// The process's open files that are a thread's scheduler statistics.
    private static func schedstatFilesOpen() -> Int {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return descriptors.filter {
            ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) ?? "").hasSuffix("/schedstat")
        }
        .count
    }
}
