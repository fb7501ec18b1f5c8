import Foundation
import ServiceKit
import TestSupport
import XCTest

@testable import Gateway

/// The gateway's pure parts: breaker, rate limit, load shedder, route table.
final class GatewayUnitTests: XCTestCase {
    func testTheBreakerOpensOnTheFailureRateThenTriesAgainHalfOpen() {
        var settings = CircuitBreaker.Settings()
        settings.windowSize = 10
        settings.minimumCalls = 4
        settings.waitInOpen = .seconds(2)
        settings.halfOpenCalls = 2
        let breaker = CircuitBreaker(settings: settings)
        let start = ContinuousClock.now
        func call(failed: Bool, at offset: Duration = .zero) {
            guard case .allowed(let ticket) = breaker.permit(now: start + offset) else { return XCTFail("refused") }
            breaker.record(ticket, failed: failed, duration: .milliseconds(5), now: start + offset)
        }
        for _ in 0..<3 { call(failed: true) }
        XCTAssertEqual(breaker.state, .closed, "below the minimum number of calls")
        call(failed: false)
        XCTAssertEqual(breaker.state, .open, "3 of 4 failed: 75 % ≥ 50 %")
        guard case .rejected(let retryAfter) = breaker.permit(now: start + .seconds(1)) else { return XCTFail("open lets calls through") }
        XCTAssertEqual(retryAfter, .seconds(1))
        call(failed: false, at: .seconds(2))
        XCTAssertEqual(breaker.state, .halfOpen)
        call(failed: false, at: .seconds(2))
        XCTAssertEqual(breaker.state, .closed, "both trial calls succeeded")
    }

    func testAFailedTrialReopensAndSlowCallsCountToo() {
        var settings = CircuitBreaker.Settings()
        settings.minimumCalls = 2
        settings.slowCallDuration = .seconds(1)
        settings.slowCallRateThreshold = 1.0
        settings.waitInOpen = .seconds(1)
        let breaker = CircuitBreaker(settings: settings)
        let start = ContinuousClock.now
        for _ in 0..<2 {
            guard case .allowed(let ticket) = breaker.permit(now: start) else { return XCTFail() }
            breaker.record(ticket, failed: false, duration: .seconds(2), now: start)
        }
        XCTAssertEqual(breaker.state, .open, "every call slow")
        guard case .allowed(let trial) = breaker.permit(now: start + .seconds(1)) else { return XCTFail() }
        breaker.record(trial, failed: true, duration: .milliseconds(1), now: start + .seconds(1))
        XCTAssertEqual(breaker.state, .open, "a failed trial reopens at once")
    }

    func testALateOutcomeFromBeforeTheBreakerOpenedIsIgnored() {
        var settings = CircuitBreaker.Settings()
        settings.minimumCalls = 1
        settings.waitInOpen = .seconds(1)
        settings.halfOpenCalls = 1
        let breaker = CircuitBreaker(settings: settings)
        let start = ContinuousClock.now
        guard case .allowed(let early) = breaker.permit(now: start), case .allowed(let failing) = breaker.permit(now: start) else {
            return XCTFail()
        }
        breaker.record(failing, failed: true, duration: .zero, now: start)
        XCTAssertEqual(breaker.state, .open)
        guard case .allowed = breaker.permit(now: start + .seconds(1)) else { return XCTFail() }
        breaker.record(early, failed: false, duration: .zero, now: start + .seconds(1))
        XCTAssertEqual(breaker.state, .halfOpen, "the trial, not a call from before, decides")
    }

    func testTokenBucketsArePerSubject() {
        let limiter = TokenBucketLimiter(rate: 1, burst: 3)
        let now = ContinuousClock.now
        let first = (0..<4).map { _ in limiter.take("alice", now: now).allowed }
        XCTAssertEqual(first, [true, true, true, false], "the burst, then refused")
        XCTAssertTrue(limiter.take("bob", now: now).allowed, "bob has his own bucket")
        let refused = limiter.take("alice", now: now)
        XCTAssertEqual(refused.resetSeconds, 1)
        XCTAssertTrue(limiter.take("alice", now: now + .seconds(1)).allowed, "a token back after a second")
    }

    func testTheLoadShedderAdmitsUpToItsLimitAndTurnsTheRestAwayAfterAShortWait() async {
        let limiter = ConcurrencyLimiter(ceiling: 2, maximumWait: .milliseconds(30), adaptive: false)
        let first = await limiter.acquire()
        let second = await limiter.acquire()
        XCTAssertTrue(first && second)
        let started = ContinuousClock.now
        let third = await limiter.acquire()
        XCTAssertFalse(third, "no slot came free")
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(30), "it waited its short while")

        // A slot freed while one waits: with a wait long enough that only the release can end it.
        let patient = ConcurrencyLimiter(ceiling: 1, maximumWait: .seconds(60))
        let held = await patient.acquire()
        XCTAssertTrue(held)
        async let waiting = patient.acquire()
        let queued = await eventually { patient.waiting == 1 }
        XCTAssertTrue(queued, "the second caller waits for a slot")
        patient.release()
        let granted = await waiting
        XCTAssertTrue(granted, "a slot freed while waiting goes to the waiter")
        XCTAssertEqual(patient.inFlight, 1, "handed over, not freed and taken again")
        XCTAssertEqual(patient.waiting, 0)
    }

    /// A burst over the limit waits for slots, up to the ceiling's worth of waiters; once the
    /// queue has stood for `standingAfter`, only √limit wait and the rest are turned away at once;
    /// once it has drained, a burst waits again. `/metrics` shows how many wait.
    func testABurstWaitsForSlotsWhileAStandingQueueTakesOnlyTheRootOfTheLimit() async {
        let limiter = ConcurrencyLimiter(ceiling: 16, maximumWait: .seconds(60), adaptive: false)
        let start = ContinuousClock.now
        let standing = start + WaitQueue<Int>.standingAfter
        for _ in 0..<16 { _ = await limiter.acquire(now: start) }
        let granted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 { group.addTask { await limiter.acquire(now: start) } }
            let burstWaits = await eventually { limiter.waiting == 16 }
            XCTAssertTrue(burstWaits, "a burst of 16 over the limit waits, not only √16: \(limiter.waiting) wait")
            let overCeiling = await limiter.acquire(now: start)
            XCTAssertFalse(overCeiling, "at most the ceiling's worth wait")
            for _ in 0..<13 { limiter.release() }
            XCTAssertEqual(limiter.waiting, 3, "each slot given back went to a waiter")
            let pool = InstancePool(
                upstream: .rental, instances: [URL(string: "http://127.0.0.1:1")!], breaker: CircuitBreaker(settings: .init()),
                limiter: limiter)
            GatewayMetrics.readPools([.rental: pool], into: ScrapedGauges())
            let exported = String(decoding: ServiceMetrics.registry.emitToBuffer(), as: UTF8.self)
            XCTAssertTrue(exported.contains(#"gateway_waiting_requests{pool="rental"} 3"#), "as /metrics shows it:\n\(exported)")
            group.addTask { await limiter.acquire(now: standing) }
            let fourthWaits = await eventually { limiter.waiting == 4 }
            XCTAssertTrue(fourthWaits, "fewer than √16 wait: one more may, though the queue stands")
            let standingQueue = await limiter.acquire(now: standing)
            XCTAssertFalse(standingQueue, "the queue stood 100 ms: turned away with √16 waiting")
            for _ in 0..<20 { limiter.release() }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        XCTAssertEqual(granted, 17, "every waiter got a slot")
        XCTAssertEqual([limiter.inFlight, limiter.waiting], [0, 0])

        // Drained, the queue is a burst's again, whenever it forms.
        let later = standing + .seconds(1)
        for _ in 0..<16 { _ = await limiter.acquire(now: later) }
        async let waiters = withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask { await limiter.acquire(now: later) } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        let burstWaitsAgain = await eventually { limiter.waiting == 8 }
        XCTAssertTrue(burstWaitsAgain, "after the queue drained, more than √16 wait: \(limiter.waiting)")
        for _ in 0..<24 { limiter.release() }
        let grantedAgain = await waiters
        XCTAssertEqual(grantedAgain, 8)
    }

    /// The queue stands once it has been non-empty for 100 ms, and is a burst's again only once it
    /// has been empty as long: one that drains for an instant under overload still stands.
    func testTheWaitQueueStandsAfterAHundredMillisecondsAndStopsOnlyAfterAsLongEmpty() {
        let start = ContinuousClock.now
        let interval = WaitQueue<Int>.standingAfter
        var queue = WaitQueue<Int>(now: start)
        func append(_ count: Int, at now: ContinuousClock.Instant) -> Int {
            (0..<count).filter { queue.append($0, burst: 8, standing: 2, now: now) }.count
        }
        func drain(at now: ContinuousClock.Instant) { while queue.popFirst(now: now) != nil {} }

        XCTAssertEqual(append(10, at: start), 8, "a burst: up to 8 wait")
        XCTAssertFalse(queue.isStanding)
        XCTAssertEqual(append(1, at: start + interval), 0)
        XCTAssertTrue(queue.isStanding, "non-empty for 100 ms")
        drain(at: start + interval)
        let drained = start + interval
        XCTAssertEqual(append(3, at: drained + interval / 2), 2, "empty for only 50 ms: still standing, 2 wait")
        drain(at: drained + interval / 2)
        XCTAssertEqual(append(3, at: drained + interval / 2 + interval), 3, "empty for 100 ms: a burst's again")
        XCTAssertFalse(queue.isStanding)
        XCTAssertEqual(queue.remove(now: start) { $0 == 1 }, 1)
        XCTAssertEqual(queue.count, 2)
    }

    func testTheRouteTable() {
        let table = RouteTable.standard
        guard case .route(let route, let parameters) = table.match(.get, "/customers/alice%20smith/rentals") else { return XCTFail() }
        XCTAssertEqual(route.upstream, .lookup)
        XCTAssertEqual(parameters, ["alice%20smith"])
        guard case .route(let cancel, _) = table.match(.post, "/rentals/abc/cancel") else { return XCTFail() }
        XCTAssertEqual(cancel.upstream, .rental)
        guard case .methodNotAllowed(let allowed) = table.match(.delete, "/books") else { return XCTFail() }
        XCTAssertEqual(Set(allowed), [.get, .post])
        guard case .notFound = table.match(.get, "/health") else { return XCTFail("the services' probes are not routed") }
        guard case .notFound = table.match(.get, "/books/../metrics") else { return XCTFail() }
        guard case .route(let books, _) = table.match(.get, "/books") else { return XCTFail() }
        XCTAssertTrue(books.isPublic)
    }
}

extension GatewayUnitTests {
    func testThePoolPrefersReadyInstancesAndTriesTheOthersWhenNoneIsReady() {
        let (one, two, three) = (URL(string: "http://127.0.0.1:1")!, URL(string: "http://127.0.0.1:2")!, URL(string: "http://127.0.0.1:3")!)
        let pool = InstancePool(
            upstream: .rental, instances: [one, two], breaker: CircuitBreaker(settings: .init()),
            limiter: ConcurrencyLimiter(ceiling: 1, maximumWait: .zero))
        pool.setReady(one, false)
        XCTAssertEqual(
            [pool.pick(excluding: [])?.url, pool.pick(excluding: [])?.url], [two, two], "only the ready one while there is one")
        pool.setReady(two, false)
        XCTAssertNotNil(pool.pick(excluding: [])?.url, "none ready: try one anyway (panic routing)")
        XCTAssertEqual(pool.pick(excluding: [two])?.url, one)
        XCTAssertNil(pool.pick(excluding: [one, two])?.url, "every instance tried")

        // Scaled at run time: a kept instance keeps its state, a new one is ready, a removed one is gone.
        pool.replace(with: [two, three])
        XCTAssertEqual(pool.instances, [two, three])
        XCTAssertFalse(pool.isReady(two), "kept, with its state")
        XCTAssertTrue(pool.isReady(three), "new: ready until its first check")
        XCTAssertEqual([pool.pick(excluding: [])?.url, pool.pick(excluding: [])?.url], [three, three])
        XCTAssertFalse(pool.setReady(one, true), "a removed instance is not marked")
        XCTAssertEqual(pool.readyCount, 1)
        pool.replace(with: [])
        XCTAssertNil(pool.pick(excluding: [])?.url, "no instance at all")
    }
}

extension GatewayUnitTests {
    func testTheFallbackQueryCannotBeGivenExtraParameters() {
        guard case .route(let route, let parameters) = RouteTable.standard.match(.get, "/customers/a%26admin=1/rentals"),
            case .rentalRecords(let target) = route.fallback
        else { return XCTFail("the customer's rentals fall back to Rental") }
        XCTAssertEqual(target(parameters, "limit=5"), "/rentals?customerId=a%26admin%3D1&limit=5")
        XCTAssertEqual(queryValue("alice%20smith"), "alice%20smith")
    }
}
