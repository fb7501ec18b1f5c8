import Foundation
import Logging
import ServiceKit
import XCTest

@testable import Gateway

/// The adaptive concurrency limit: its rule on windows of answers, and the limiter that applies it.
final class AdaptiveLimitTests: XCTestCase {
    /// A pool that answers in `base` seconds with up to `capacity` requests in flight and queues the
    /// rest (latency grows with the queue), offered far more requests than it can take: the limit
    /// learns about its capacity, and the admitted requests keep about the no-load latency.
    func testUnderTenTimesTheLoadTheLimitSettlesNearWhatThePoolCanTakeAndKeepsItsLatency() {
        let (base, capacity) = (0.002, 12.0)
        var now = ContinuousClock.now
        var limit = AdaptiveLimit(settings: .init(ceiling: 256), now: now)
        func latency(inFlight: Int) -> Double { base * max(1, Double(inFlight) / capacity) }
        func window(inFlight: Int) -> Double {
            now += .milliseconds(100)
            let mean = latency(inFlight: inFlight)
            _ = limit.update(meanLatency: mean, peakInFlight: inFlight, now: now)
            return mean
        }
        // Unloaded first: the no-load latency is learnt, the limit stays at the ceiling.
        for _ in 0..<20 { _ = window(inFlight: 2) }
        XCTAssertEqual(limit.allowed, 256, "an unused limit does not move")
        // Far more offered than the ceiling, for two minutes (four probes): every slot taken, every window.
        var latencies: [Double] = []
        var probes = 0
        for _ in 0..<1200 {
            if limit.probeStarted != nil { probes += 1 }
            latencies.append(window(inFlight: limit.allowed))
        }
        XCTAssertEqual(probes, 4, "a probe every 30 s")
        XCTAssertLessThan(limit.allowed, 256 / 4, "the limit came down")
        XCTAssertGreaterThanOrEqual(Double(limit.allowed), capacity * 0.75, "it keeps the pool busy: \(limit.allowed)")
        XCTAssertLessThanOrEqual(Double(limit.allowed), capacity * 2, "and lets no long queue build: \(limit.allowed)")
        let settled = latencies.suffix(100)
        XCTAssertLessThanOrEqual(settled.max()!, 2 * base, "admitted latency within 2× of no-load: \(settled.max()!)")
    }

    /// A limit whose first probe measured `noLoad`.
    private func probed(ceiling: Int, noLoad: Double, at now: ContinuousClock.Instant) -> AdaptiveLimit {
        var limit = AdaptiveLimit(settings: .init(ceiling: ceiling, floor: 4), now: now)
        XCTAssertTrue(limit.update(meanLatency: 0.5, peakInFlight: ceiling, now: now), "load: the first probe")
        XCTAssertEqual(limit.allowed, 4, "at the floor while it lasts")
        XCTAssertEqual(limit.limit, Double(ceiling), "nothing learnt before it")
        XCTAssertFalse(limit.update(meanLatency: noLoad, peakInFlight: 4, now: now))
        XCTAssertEqual(limit.noLoadLatency, noLoad)
        return limit
    }

    func testTheLimitFallsToTheFloorAtMostAndGrowsBackWhenTheLatencyDoes() {
        let now = ContinuousClock.now
        var limit = probed(ceiling: 64, noLoad: 0.001, at: now)
        _ = limit.update(meanLatency: 0.001, peakInFlight: 64, now: now)
        XCTAssertEqual(limit.allowed, 64, "at the no-load latency, nothing to learn at the ceiling")
        _ = limit.update(meanLatency: 0.010, peakInFlight: 64, now: now)
        XCTAssertEqual(limit.limit, 0.8 * 64 + 0.2 * (32 + 8), accuracy: 1e-9, "10× slower: the gradient's floor (½), smoothed")
        for _ in 0..<100 { _ = limit.update(meanLatency: 0.010, peakInFlight: limit.allowed, now: now) }
        XCTAssertEqual(limit.allowed, 4, "never below the floor")
        var grown = 0
        for _ in 0..<100 {
            _ = limit.update(meanLatency: 0.001, peakInFlight: limit.allowed, now: now)
            grown = max(grown, limit.allowed)
        }
        XCTAssertEqual(grown, 64, "back to the ceiling, never past it")
    }

    func testAWindowThatUsedLessThanHalfTheLimitChangesNothing() {
        let now = ContinuousClock.now
        var limit = probed(ceiling: 64, noLoad: 0.001, at: now)
        _ = limit.update(meanLatency: 0.050, peakInFlight: 31, now: now)
        XCTAssertEqual(limit.allowed, 64, "slow answers with few in flight are not the pool queueing")
        _ = limit.update(meanLatency: 0.050, peakInFlight: 32, now: now)
        XCTAssertLessThan(limit.allowed, 64)
    }

    func testTheNoLoadLatencyIsWhatTheLastProbeMeasured() {
        let start = ContinuousClock.now
        var limit = probed(ceiling: 64, noLoad: 0.002, at: start)
        _ = limit.update(meanLatency: 0.0014, peakInFlight: 64, now: start)
        XCTAssertEqual(limit.noLoadLatency, 0.002, "a lucky window is not the no-load latency")
        XCTAssertEqual(limit.nextProbe, start + .seconds(30), "nor, within the tolerance, a reason to probe sooner")
        XCTAssertFalse(limit.update(meanLatency: 0.003, peakInFlight: 64, now: start + .seconds(29)))
        XCTAssertFalse(limit.update(meanLatency: 0.003, peakInFlight: 31, now: start + .seconds(30)), "a pool not pushed is not probed")
        XCTAssertTrue(limit.update(meanLatency: 0.003, peakInFlight: 64, now: start + .seconds(30)), "30 s on: a probe")
        let before = limit.limit
        _ = limit.update(meanLatency: 0.004, peakInFlight: 4, now: start + .milliseconds(30_100))
        XCTAssertEqual(limit.noLoadLatency, 0.004, "the probe's mean, though higher: the box is busier now")
        XCTAssertNil(limit.probeStarted)
        XCTAssertEqual(limit.limit, before, "the limit as it was")
        XCTAssertFalse(limit.update(meanLatency: 0.004, peakInFlight: 64, now: start + .seconds(59)), "the next one 30 s later")
    }

    /// A probe that fell while the box was busy with something else says nothing of this pool.
    func testAProbeFarSlowerThanTheNoLoadLatencyIsRefusedTwiceThenTaken() {
        let start = ContinuousClock.now
        var limit = probed(ceiling: 64, noLoad: 0.002, at: start)
        var now = start + .seconds(30)
        for refusal in 1...2 {
            XCTAssertFalse(limit.update(meanLatency: 0.010, peakInFlight: 64, now: now - .milliseconds(1)), "not yet")
            XCTAssertTrue(limit.update(meanLatency: 0.010, peakInFlight: 64, now: now), "probe \(refusal)")
            let learnt = limit.limit
            _ = limit.update(meanLatency: 0.030, peakInFlight: 4, now: now + .milliseconds(100))
            XCTAssertEqual(limit.noLoadLatency, 0.002, "15× the no-load latency: refused (\(refusal))")
            XCTAssertEqual(limit.refusedInARow, refusal)
            XCTAssertEqual([limit.probesTaken, limit.probesRefused], [1, refusal], "as /metrics counts them")
            XCTAssertNil(limit.probeStarted)
            XCTAssertEqual(limit.limit, learnt, "the limit as it was, learnt against the old figure")
            now += .milliseconds(100) + .seconds(5)
        }
        XCTAssertTrue(limit.update(meanLatency: 0.030, peakInFlight: 64, now: now), "5 s after the refusal: again")
        _ = limit.update(meanLatency: 0.030, peakInFlight: 4, now: now + .milliseconds(100))
        XCTAssertEqual(limit.noLoadLatency, 0.030, "the third in a row is taken: the box is slower now")
        XCTAssertEqual(limit.refusedInARow, 0)
        XCTAssertEqual([limit.probesTaken, limit.probesRefused], [2, 2])
        XCTAssertEqual(limit.nextProbe, now + .milliseconds(100) + .seconds(30))
        XCTAssertTrue(limit.update(meanLatency: 0.030, peakInFlight: 64, now: limit.nextProbe))
        _ = limit.update(meanLatency: 0.005, peakInFlight: 4, now: limit.nextProbe + .milliseconds(100))
        XCTAssertEqual(limit.noLoadLatency, 0.005, "a quicker probe is always taken")
    }

    /// Answers clearly quicker under load than the no-load latency show that figure is stale.
    func testAWindowQuickerThanTheNoLoadLatencyBringsTheNextProbeForward() {
        let start = ContinuousClock.now
        var limit = probed(ceiling: 64, noLoad: 0.030, at: start)
        _ = limit.update(meanLatency: 0.021, peakInFlight: 64, now: start + .seconds(1))
        XCTAssertEqual(limit.nextProbe, start + .seconds(30), "within the tolerance (21 × 1.5 ≥ 30 ms): as planned")
        _ = limit.update(meanLatency: 0.019, peakInFlight: 10, now: start + .seconds(2))
        XCTAssertEqual(limit.nextProbe, start + .seconds(7), "19 ms, even with few in flight: 5 s on")
        _ = limit.update(meanLatency: 0.002, peakInFlight: 10, now: start + .seconds(3))
        XCTAssertEqual(limit.nextProbe, start + .seconds(7), "not put off by the next quick window")
        XCTAssertFalse(limit.update(meanLatency: 0.002, peakInFlight: 64, now: start + .milliseconds(6_999)))
        XCTAssertTrue(limit.update(meanLatency: 0.002, peakInFlight: 64, now: start + .seconds(7)))
        _ = limit.update(meanLatency: 0.002, peakInFlight: 4, now: start + .milliseconds(7_100))
        XCTAssertEqual(limit.noLoadLatency, 0.002)
    }

    func testAWindowClosesAfterTenAnswersAndAHundredMilliseconds() {
        let start = ContinuousClock.now
        var window = Window(start: start)
        for index in 0..<9 { XCTAssertNil(window.add(.milliseconds(2), at: start + .seconds(1), inFlight: index)) }
        let ended = window.add(.milliseconds(12), at: start + .seconds(1), inFlight: 3)
        XCTAssertEqual(ended?.mean ?? 0, 0.003, accuracy: 1e-9)
        XCTAssertEqual(ended?.peak, 8)
        for _ in 0..<20 { XCTAssertNil(window.add(.milliseconds(2), at: start + .seconds(1), inFlight: 1), "a new window, not 100 ms old") }
        XCTAssertNotNil(window.add(.milliseconds(2), at: start + .milliseconds(1100), inFlight: 1))
    }

    /// The limiter with the rule: slow answers lower the slots it gives; requests over it are
    /// turned away (no wait configured) until answers are quick again.
    func testTheLimiterShedsMoreOnceItsInstancesSlowDown() async {
        var now = ContinuousClock.now
        let limiter = ConcurrencyLimiter(ceiling: 16, maximumWait: .zero, now: now)
        func round(latency: Duration) async -> (admitted: Int, refused: Int) {
            now += Window.minimumLength
            var (admitted, refused) = (0, 0)
            for _ in 0..<20 {
                if await limiter.acquire() { admitted += 1 } else { refused += 1 }
            }
            for _ in 0..<admitted { limiter.release(latency: latency, now: now) }
            return (admitted, refused)
        }
        let first = await round(latency: .milliseconds(1))
        XCTAssertEqual(first.admitted, 16, "the ceiling at first")
        XCTAssertNil(limiter.noLoadLatency, "nothing probed yet")
        // Its answers started the first probe: four at a time until a window of them is in.
        var probe: [Int] = []
        while limiter.limit < 16 && probe.count < 10 { probe.append(await round(latency: .milliseconds(1)).admitted) }
        XCTAssertEqual(probe, [4, 4, 4], "the floor, for ten answers let in during the probe")
        XCTAssertEqual(limiter.noLoadLatency ?? 0, 0.001, accuracy: 1e-9, "the probe's mean, as /metrics shows it")
        let pool = InstancePool(
            upstream: .rental, instances: [URL(string: "http://127.0.0.1:1")!], breaker: CircuitBreaker(settings: .init()),
            limiter: limiter)
        GatewayMetrics.readPools([.rental: pool], into: ScrapedGauges())
        let exported = String(decoding: ServiceMetrics.registry.emitToBuffer(), as: UTF8.self)
        for (outcome, count) in [("taken", 1), ("refused", 0)] {
            let series = #"gateway_limit_probes_total{pool="rental",outcome="\#(outcome)"} \#(count)"#
            XCTAssertTrue(exported.contains(series), "\(series) in:\n\(exported)")
        }
        var slow = (admitted: 16, refused: 4)
        for _ in 0..<10 { slow = await round(latency: .milliseconds(20)) }
        XCTAssertLessThan(slow.admitted, 16, "fewer slots once answers took 20× longer: \(slow)")
        XCTAssertEqual(limiter.limit, slow.admitted)
        XCTAssertEqual(limiter.inFlight, 0, "every slot given back")
    }

    /// `--concurrency-limit fixed`: the pools' limiters keep `--max-concurrent` however slow the
    /// answers; the default ones learn from them.
    func testWithAFixedLimitThePoolsKeepTheirCeilingHoweverSlowTheAnswers() async {
        for adaptive in [false, true] {
            var configuration = GatewayConfiguration(
                pools: [.rental: [URL(string: "http://127.0.0.1:1")!]], authentication: .disabled, concurrencyLimit: 16,
                concurrencyWait: .zero, logger: Logger(label: "test"))
            configuration.adaptiveLimit = adaptive
            let limiter = GatewayApplication.makePools(configuration)[.rental]!.limiter
            var now = ContinuousClock.now
            var admittedPerRound: Set<Int> = []
            // Quick answers, then 20× slower ones, a window at a time.
            for round in 0..<20 {
                now += Window.minimumLength
                var admitted = 0
                while await limiter.acquire() { admitted += 1 }
                for _ in 0..<admitted { limiter.release(latency: .milliseconds(round < 5 ? 1 : 20), now: now) }
                admittedPerRound.insert(admitted)
            }
            if adaptive {
                XCTAssertLessThan(admittedPerRound.min()!, 16, "the adaptive limit probed and learnt: \(admittedPerRound)")
            } else {
                XCTAssertEqual(admittedPerRound, [16], "the fixed limit stayed at --max-concurrent")
            }
        }
    }
}
