import Foundation
import ProcessSupport
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Probes, draining, and a rolling restart of every instance under load without a failed request.
final class RollingRestartTests: XCTestCase {
    func testSigtermTurnsAServiceNotReadyWhileItKeepsServingThenItStops() async throws {
        let cluster = try await ServiceCluster.start(drain: "2s")
        let ready = try await cluster.send("rental", "GET", "/ready")
        XCTAssertEqual(ready.status, 200, ready.text)
        let groupReady = await eventually {
            ((try? await cluster.send("rental", "GET", "/ready"))?.json() as? [String: Any])?["consumerGroup"] as? Bool == true
        }
        XCTAssertTrue(groupReady, "/ready reports the consumer group in place")
        let live = try await cluster.send("rental", "GET", "/live")
        XCTAssertEqual(live.status, 200)

        let stopping = ContinuousClock.now
        cluster.signal("rental", SIGTERM)
        let notReady = await eventually(timeout: .seconds(2)) { (try? await cluster.send("rental", "GET", "/ready"))?.status == 503 }
        XCTAssertTrue(notReady, "not ready at once")
        let draining = try await cluster.send("rental", "GET", "/ready")
        XCTAssertTrue(draining.text.contains("draining"), draining.text)
        let served = try await cluster.send("rental", "GET", "/books")
        XCTAssertEqual(served.status, 200, "still serving while it drains")
        let alive = try await cluster.send("rental", "GET", "/live")
        XCTAssertEqual(alive.status, 200, "and alive")
        let exited = await cluster.waitForExit("rental", within: .seconds(15))
        XCTAssertTrue(exited)
        let took = ContinuousClock.now - stopping
        XCTAssertGreaterThanOrEqual(took, .seconds(2), "it served the whole drain period")
        print("FIGURE SIGTERM → exit in \(took) with a 2 s drain")

        // The gateway drains the same way.
        try await cluster.start("rental")
        try await cluster.startGateway()
        let gatewayReady = try await cluster.send("gateway", "GET", "/ready")
        XCTAssertEqual(gatewayReady.status, 200)
        cluster.signal("gateway", SIGTERM)
        let gatewayDraining = await eventually(timeout: .seconds(2)) {
            (try? await cluster.send("gateway", "GET", "/ready"))?.status == 503
        }
        XCTAssertTrue(gatewayDraining, "the gateway turns not ready at once")
        let stillRouting = try await cluster.send("gateway", "GET", "/books")
        XCTAssertEqual(stillRouting.status, 200, "and keeps routing while it drains")
        let gatewayExited = await cluster.waitForExit("gateway", within: .seconds(15))
        XCTAssertTrue(gatewayExited)
    }

    func testRestartingEveryInstanceOneAfterAnotherUnderLoadFailsNoRequest() async throws {
        let cluster = try await ServiceCluster.start(secured: true, drain: "2s")
        var instances: [String: [Int]] = [:]
        for service in ServiceCluster.services {
            let second = try await cluster.startInstance(of: service, as: "\(service)-2")
            instances[service] = [cluster.ports[service]!, second]
        }
        try await cluster.startGateway(["--rate-limit", "0"], instances: instances)
        let admin = try await cluster.token("admin", "admin")
        let book = try await cluster.send(
            "gateway", "POST", "/books", token: admin, json: ["title": "Steady", "author": "A", "copies": 100_000])
        let bookId = try XCTUnwrap((book.json() as? [String: Any])?["id"] as? String)
        var customers: [(String, String)] = []
        for index in 0..<6 { customers.append(("customer-\(index)", try await cluster.token("customer-\(index)", "customer"))) }

        let load = Load()
        let orderers = customers
        let clients = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (customer, token) in orderers {
                    group.addTask {
                        while !load.stopped {
                            let order = try await cluster.send(
                                "gateway", "POST", "/rentals", token: token, json: ["bookId": bookId, "address": "1 Loop St"],
                                headers: ["Idempotency-Key": UUID().uuidString])
                            load.record(order, customer: customer)
                            load.record(
                                try await cluster.send("gateway", "GET", "/customers/\(customer)/rentals", token: token), customer: nil)
                            load.record(try await cluster.send("gateway", "GET", "/books?limit=5"), customer: nil)
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await Task.sleep(for: .seconds(1))
        var exits: [String] = []
        for name in ServiceCluster.services.flatMap({ [$0, "\($0)-2"] }) + ["rental", "lookup"] {
            let took = try await cluster.restart(name)
            // As a rollout waits for the new pod to be Ready before it stops the next one: here, until
            // the gateway counts both instances ready again.
            let service = name.replacingOccurrences(of: "-2", with: "")
            let back = await eventually(timeout: .seconds(10)) {
                let health = (try? await cluster.send("gateway", "GET", "/health"))?.json() as? [String: Any]
                return ((health?["pools"] as? [String: Any])?[service] as? [String: Any])?["ready"] as? Int == 2
            }
            XCTAssertTrue(back, "the gateway sees \(name) ready again")
            exits.append("\(name) exited in \(took.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow)))")
        }
        try await Task.sleep(for: .seconds(1))
        load.stop()
        try await clients.value

        let summary = load.summary
        XCTAssertEqual(summary.failures, [], "no 5xx, no connection error")
        XCTAssertGreaterThan(summary.orders.count, 100)

        // Every accepted order delivered exactly once, and in its customer's views.
        var deliveredRentals: [String] = []
        let delivered = await eventually(timeout: .seconds(30)) {
            deliveredRentals = (try? await Self.all(cluster, "/deliveries", token: admin).compactMap { $0["rentalId"] as? String }) ?? []
            return Set(deliveredRentals).isSuperset(of: summary.orders.keys)
        }
        XCTAssertTrue(delivered, "every accepted order got its delivery")
        XCTAssertEqual(deliveredRentals.count, Set(deliveredRentals).count, "none twice")
        XCTAssertEqual(Set(deliveredRentals), Set(summary.orders.keys), "and no delivery without an accepted order")
        for (customer, _) in customers {
            let expected = Set(summary.orders.filter { $0.value == customer }.keys)
            let complete = await eventually(timeout: .seconds(30)) {
                let views = (try? await Self.all(cluster, "/customers/\(customer)/rentals", token: admin)) ?? []
                return Set(views.compactMap { $0["rentalId"] as? String }) == expected && views.allSatisfy { $0["fallback"] == nil }
            }
            XCTAssertTrue(complete, "Lookup holds all of \(customer)'s rentals")
        }
        print(
            "FIGURE rolling restart of \(exits.count) instances under load: \(summary.requests) requests, \(summary.orders.count) orders, \(summary.failures.count) failed; \(exits.joined(separator: ", "))"
        )
    }

    /// Every page of a list, following `Link`.
    private static func all(_ cluster: ServiceCluster, _ path: String, token: String) async throws -> [[String: Any]] {
        var items: [[String: Any]] = []
        var next: String? = path + (path.contains("?") ? "&" : "?") + "limit=500"
        while let target = next {
            let page = try await cluster.send("gateway", "GET", target, token: token)
            guard page.status == 200 else { throw TestSupportError("\(target): \(page.status) \(page.text)") }
            items += page.json() as? [[String: Any]] ?? []
            next = page.header("Link").flatMap { $0.split(separator: ";").first.map { String($0.dropFirst().dropLast()) } }
        }
        return items
    }
}

/// What the load's clients saw.
private final class Load: @unchecked Sendable {
    private let lock = NSLock()
    private var requests = 0
    private var orders: [String: String] = [:]  // rental id → customer
    private var failures: [String] = []
    private var isStopped = false

    var stopped: Bool { lock.withLock { isStopped } }
    func stop() { lock.withLock { isStopped = true } }

    func record(_ exchange: Exchange, customer: String?) {
        lock.withLock {
            requests += 1
            if exchange.status >= 500 || exchange.status == 0 { failures.append("\(exchange.status) \(exchange.text)") }
            if let customer, exchange.status == 201, let id = (exchange.json() as? [String: Any])?["id"] as? String {
                orders[id] = customer
            }
        }
    }

    var summary: (requests: Int, orders: [String: String], failures: [String]) { lock.withLock { (requests, orders, failures) } }
}
