import AsyncHTTPClient
import Foundation
import ProcessSupport
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The gateway when things go wrong: a noisy customer, a dead Lookup, a dead Rental, a dead
/// instance, and ten times more clients than a pool admits. Real processes; times are reported,
/// not asserted.
final class GatewayResilienceTests: XCTestCase {
    private static func seconds(_ duration: Duration) -> Double {
        duration / .seconds(1)
    }

    func testANoisyCustomerGets429WithItsHeadersWhileAnotherIsServed() async throws {
        let cluster = try await ServiceCluster.start(secured: true)
        try await cluster.startGateway(["--rate-limit", "5", "--burst", "10"])
        let alice = try await cluster.token("alice", "customer")
        let bob = try await cluster.token("bob", "customer")
        var statuses: [Int] = []
        var refused: Exchange?
        for _ in 0..<20 {
            let exchange = try await cluster.send("gateway", "GET", "/rentals", token: alice)
            statuses.append(exchange.status)
            if exchange.status == 429, refused == nil { refused = exchange }
        }
        XCTAssertEqual(statuses.prefix(10).filter { $0 == 200 }.count, 10, "the burst passes: \(statuses)")
        let limited = try XCTUnwrap(refused, "past the burst: 429 (\(statuses))")
        XCTAssertNotNil(limited.header("Retry-After").flatMap(Int.init))
        XCTAssertEqual(limited.header("RateLimit-Policy"), #""default";q=10;w=2"#)
        XCTAssertEqual(limited.header("RateLimit")?.hasPrefix(#""default";r=0;t="#), true, limited.header("RateLimit") ?? "none")
        XCTAssertTrue(limited.text.contains("error"))
        let other = try await cluster.send("gateway", "GET", "/rentals", token: bob)
        XCTAssertEqual(other.status, 200, "bob has his own bucket")
        let anonymous = try await cluster.send("gateway", "GET", "/books")
        XCTAssertEqual(anonymous.status, 200, "without a token: the client address's bucket")
    }

    func testLookupDownTheCustomersRentalsComeFromRentalMarkedAsAFallback() async throws {
        let cluster = try await ServiceCluster.start(secured: true)
        try await cluster.startGateway()
        let admin = try await cluster.token("admin", "admin")
        let alice = try await cluster.token("alice", "customer")
        let book = try await cluster.send("gateway", "POST", "/books", token: admin, json: ["title": "Emma", "author": "Austen"])
        let bookId = try XCTUnwrap((book.json() as? [String: Any])?["id"] as? String)
        let order = try await cluster.send("gateway", "POST", "/rentals", token: alice, json: ["bookId": bookId, "address": "2 High St"])
        let rentalId = try XCTUnwrap((order.json() as? [String: Any])?["id"] as? String)
        let built = await eventually {
            (try? await cluster.send("gateway", "GET", "/rentals/\(rentalId)", token: alice))?.header("X-Fallback") == nil
        }
        XCTAssertTrue(built)

        await cluster.kill("lookup")
        let killed = ContinuousClock.now
        let list = try await cluster.send("gateway", "GET", "/customers/alice/rentals", token: alice)
        let firstAnswer = ContinuousClock.now - killed
        XCTAssertEqual(list.status, 200, list.text)
        XCTAssertEqual(list.header("X-Fallback"), "rental")
        let views = try XCTUnwrap(list.json() as? [[String: Any]])
        XCTAssertEqual(views.map { $0["rentalId"] as? String }, [rentalId])
        XCTAssertEqual(views.first?["fallback"] as? Bool, true)
        XCTAssertEqual(views.first?["deliveryStatus"] as? String, "unknown")
        let one = try await cluster.send("gateway", "GET", "/rentals/\(rentalId)", token: alice)
        XCTAssertEqual(one.status, 200)
        XCTAssertEqual((one.json() as? [String: Any])?["fallback"] as? Bool, true)
        let others = try await cluster.send("gateway", "GET", "/rentals/\(rentalId)", token: try await cluster.token("bob", "customer"))
        XCTAssertEqual(others.status, 404, "the fallback keeps ownership: Rental checks it too")
        print("FIGURE lookup killed → first fallback answer in \(Int(Self.seconds(firstAnswer) * 1000)) ms (the target is < 1 s)")
    }

    func testRentalDownOrderingAnswers503FastThenWorksAgainWhenRentalReturns() async throws {
        let cluster = try await ServiceCluster.start(secured: true)
        try await cluster.startGateway(["--rate-limit", "0"])
        let admin = try await cluster.token("admin", "admin")
        let alice = try await cluster.token("alice", "customer")
        let book = try await cluster.send(
            "gateway", "POST", "/books", token: admin, json: ["title": "Ulysses", "author": "Joyce", "copies": 50])
        let bookId = try XCTUnwrap((book.json() as? [String: Any])?["id"] as? String)
        let catalogue = try await cluster.send("gateway", "GET", "/books", token: nil)
        XCTAssertEqual(catalogue.status, 200)
        let order: [String: any Sendable] = ["bookId": bookId, "address": "3 Low Rd"]

        await cluster.kill("rental")
        var answers: [Exchange] = []
        let open = await eventually(timeout: .seconds(10)) {
            guard let exchange = try? await cluster.send("gateway", "POST", "/rentals", token: alice, json: order) else { return false }
            answers.append(exchange)
            let health = try? await cluster.send("gateway", "GET", "/health").text
            return health?.contains(#""rental":{"#) == true && health?.contains("open") == true
        }
        XCTAssertTrue(open, "the breaker opens")
        XCTAssertTrue(answers.allSatisfy { $0.status == 503 }, "every order while Rental is down: 503 (\(answers.map(\.status)))")
        var fast: [Double] = []
        for _ in 0..<20 {
            let refused = try await cluster.send("gateway", "POST", "/rentals", token: alice, json: order)
            XCTAssertEqual(refused.status, 503)
            XCTAssertNotNil(refused.header("Retry-After"), "tells when to come back")
            XCTAssertTrue(refused.text.contains("try again in a moment"), refused.text)
            fast.append(refused.seconds)
        }
        let stale = try await cluster.send("gateway", "GET", "/books")
        XCTAssertEqual(stale.status, 200, "the catalogue from its last good copy")
        XCTAssertEqual(stale.header("X-Stale"), "true")
        XCTAssertEqual(stale.body, catalogue.body)

        try await cluster.start("rental")
        let back = ContinuousClock.now
        let ordering = await eventually(timeout: .seconds(20)) {
            (try? await cluster.send("gateway", "POST", "/rentals", token: alice, json: order))?.status == 201
        }
        XCTAssertTrue(ordering, "ordering works again once Rental is back")
        let sorted = fast.sorted()
        print(
            "FIGURE rental down, breaker open: 503 in p50 \(Int(sorted[sorted.count / 2] * 1000)) ms, max \(Int(sorted.last! * 1000)) ms (target < 100 ms); ordering back \(String(format: "%.1f", Self.seconds(.now - back))) s after Rental listened"
        )
    }

    func testADeadInstanceIsSkippedAndTheOthersServe() async throws {
        let cluster = try await ServiceCluster.start(secured: true)
        let second = try await cluster.startInstance(of: "rental", as: "rental-2")
        try await cluster.startGateway(["--rate-limit", "0"], instances: ["rental": [cluster.ports["rental"]!, second]])
        await cluster.kill("rental")
        var statuses: [Int] = []
        for _ in 0..<20 { statuses.append(try await cluster.send("gateway", "GET", "/books").status) }
        XCTAssertEqual(Set(statuses), [200], "a refused connection moves the request to the live instance at once: \(statuses)")
    }

    func testTenTimesMoreClientsThanTheLimitGetOnly2xx429Or503AndTheAdmittedKeepTheirLatency() async throws {
        let cluster = try await ServiceCluster.start(secured: true)
        // Orders: each a SQLite write transaction, so that Rental's disk, not the CPU the test's
        // own client shares on two cores, is what saturates.
        let limit = 2
        try await cluster.startGateway(["--rate-limit", "0", "--max-concurrent", String(limit)])
        let admin = try await cluster.token("admin", "admin")
        let book = try await cluster.send(
            "gateway", "POST", "/books", token: admin, json: ["title": "Popular", "author": "A", "copies": 100_000])
        let bookId = try XCTUnwrap((book.json() as? [String: Any])?["id"] as? String)
        let token = try await cluster.token("alice", "customer")
        let order: [String: any Sendable] = ["bookId": bookId, "address": "4 Busy St"]
        func p99(_ values: [Double]) -> Double {
            values.isEmpty ? .nan : values.sorted()[min(values.count - 1, Int(Double(values.count) * 0.99))]
        }

        var unloaded: [Double] = []
        for _ in 0..<200 {
            let exchange = try await cluster.send("gateway", "POST", "/rentals", token: token, json: order)
            XCTAssertEqual(exchange.status, 201)
            unloaded.append(exchange.seconds)
        }

        let clients = limit * 10
        let results = try await Self.load(
            clients: clients, url: cluster.url("gateway", "/rentals").absoluteString, token: token, order: order)
        let statuses = Dictionary(grouping: results, by: \.0).mapValues(\.count)
        XCTAssertTrue(Set(statuses.keys).isSubset(of: [201, 429, 503]), "only 2xx, 429 or 503: \(statuses)")
        XCTAssertGreaterThan(statuses[503] ?? 0, 0, "load was shed: \(statuses)")
        XCTAssertGreaterThan(statuses[201] ?? 0, 0)
        let admitted = results.filter { $0.0 == 201 }.map(\.1)
        let shed = results.filter { $0.0 == 503 }.map(\.1)
        // The same load with the limit out of the way: what admitted requests would see without shedding.
        await cluster.kill("gateway")
        try await cluster.startGateway(["--rate-limit", "0", "--max-concurrent", "10000"])
        let unshed = try await Self.load(
            clients: clients, url: cluster.url("gateway", "/rentals").absoluteString, token: token, order: order)
        print(
            "FIGURE overload without a limit, \(clients) clients: \(Dictionary(grouping: unshed, by: \.0).mapValues(\.count)); p99 \(String(format: "%.1f", p99(unshed.map(\.1)) * 1000)) ms"
        )
        print(
            "FIGURE overload, \(clients) clients against a limit of \(limit): \(statuses); p99 admitted \(String(format: "%.1f", p99(admitted) * 1000)) ms vs unloaded p99 \(String(format: "%.1f", p99(unloaded) * 1000)) ms; p99 of a 503 \(String(format: "%.1f", p99(shed) * 1000)) ms"
        )
    }

    /// `clients` clients ordering as fast as they can for 4 s: each answer's status and time.
    private static func load(clients: Int, url: String, token: String, order: [String: any Sendable]) async throws -> [(Int, Double)] {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: clients)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let body = try JSONSerialization.data(withJSONObject: order)
        let deadline = ContinuousClock.now + .seconds(4)
        let results: [(Int, Double)]
        do {
            results = try await withThrowingTaskGroup(of: [(Int, Double)].self) { group in
                for _ in 0..<clients {
                    group.addTask {
                        var mine: [(Int, Double)] = []
                        while ContinuousClock.now < deadline {
                            var request = HTTPClientRequest(url: url)
                            request.method = .POST
                            request.headers.add(name: "Authorization", value: "Bearer \(token)")
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.body = .bytes(body)
                            let start = ContinuousClock.now
                            let response = try await client.execute(request, timeout: .seconds(30))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            mine.append((Int(response.status.code), Self.seconds(.now - start)))
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return results
    }
}
