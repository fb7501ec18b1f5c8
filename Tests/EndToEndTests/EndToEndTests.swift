import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ProcessSupport
import TestSupport
import XCTest

/// The product, end to end: four real service processes, a private redis-server, real HTTP.
final class EndToEndTests: XCTestCase {
    var cluster: ServiceCluster!

    override func setUp() async throws {
        cluster = try ServiceCluster()
    }

    override func tearDown() async throws {
        cluster = nil
    }

    private func registerBook(copies: Int) async throws -> String {
        let response = try await cluster.request("rental", "POST", "/books", body: ["title": "Dune", "author": "Frank Herbert", "copies": copies])
        XCTAssertEqual(response.status, 201)
        return try XCTUnwrap(response.object["id"] as? String)
    }

    private func order(_ bookId: String, customer: String = "alice") async throws -> String {
        let response = try await cluster.request("rental", "POST", "/rentals", body: ["customerId": customer, "bookId": bookId, "address": "1 Main St"])
        XCTAssertEqual(response.status, 201)
        return try XCTUnwrap(response.object["id"] as? String)
    }

    private func deliveryId(of rentalId: String) async throws -> String? {
        try await cluster.request("delivery", "GET", "/deliveries?rentalId=\(rentalId)").array.first?["id"] as? String
    }

    func testTheWholeJourney() async throws {
        let bookId = try await registerBook(copies: 2)
        let rentalId = try await order(bookId)

        // Lookup shows it, fed only by events.
        let shown = await eventually {
            let view = try? await self.cluster.request("lookup", "GET", "/customers/alice/rentals")
            return view?.array.first?["deliveryStatus"] as? String == "ready"
        }
        XCTAssertTrue(shown, "Lookup shows the rental with its delivery ready")
        let foundDelivery = try await deliveryId(of: rentalId)
        let deliveryId = try XCTUnwrap(foundDelivery)

        let started = try await cluster.request("delivery", "POST", "/deliveries/\(deliveryId)/start")
        XCTAssertEqual(started.status, 200)
        let delivering = await eventually { (try? await self.cluster.request("rental", "GET", "/rentals/\(rentalId)"))?.object["status"] as? String == "delivering" }
        XCTAssertTrue(delivering)

        let refused = try await cluster.request("rental", "POST", "/rentals/\(rentalId)/cancel")
        XCTAssertEqual(refused.status, 409, "no cancel once the delivery has started")
        XCTAssertNotNil(refused.object["error"] as? String)

        let completed = try await cluster.request("delivery", "POST", "/deliveries/\(deliveryId)/complete")
        XCTAssertEqual(completed.status, 200)
        let delivered = await eventually {
            let view = try? await self.cluster.request("lookup", "GET", "/rentals/\(rentalId)")
            return view?.object["status"] as? String == "delivered" && view?.object["deliveryStatus"] as? String == "delivered"
        }
        XCTAssertTrue(delivered)
        let returned = try await cluster.request("rental", "POST", "/rentals/\(rentalId)/return")
        XCTAssertEqual(returned.status, 200)

        let alerted = await eventually {
            let alerts = (try? await self.cluster.request("notifier", "GET", "/alerts?limit=100"))?.array ?? []
            return alerts.contains { $0["kind"] as? String == "new_book" } && alerts.filter { $0["customerId"] as? String == "alice" }.count == 4
        }
        XCTAssertTrue(alerted, "a promotion, and ordered, on its way, delivered, returned for alice")
        for service in ServiceCluster.services {
            let health = try await cluster.request(service, "GET", "/health")
            XCTAssertEqual(health.status, 200)
            XCTAssertEqual(health.object["consumer"] as? String, service == "rental" ? "rental-1" : "\(service)-1")
        }
        let notifierFile = cluster.directory.appendingPathComponent("notifier.sqlite").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: notifierFile), "DB_PATH from the environment was used")
        let metrics = try await cluster.text("delivery", "/metrics")
        let handled = metrics.split(separator: "\n").first { $0.hasPrefix("bus_consumer_events_total{") && $0.contains(#"group="delivery""#) && $0.contains(#"outcome="handled""#) }
        XCTAssertNotNil(handled, "Delivery exports its consumer's counts: \(metrics.prefix(800))")
        XCTAssertGreaterThan(Double(handled?.split(separator: " ").last ?? "") ?? 0, 0)
        XCTAssertTrue(metrics.contains("bus_outbox_published_total"))
    }

    func testOrdersPlacedWhileDeliveryIsDownAllGetADeliveryWhenItIsBack() async throws {
        let bookId = try await registerBook(copies: 100)
        cluster.stop("delivery")
        var rentals: [String] = []
        for index in 0..<50 { rentals.append(try await order(bookId, customer: "customer-\(index % 5)")) }
        try cluster.start("delivery")
        let allScheduled = await eventually(timeout: .seconds(30)) {
            let all = (try? await self.cluster.request("delivery", "GET", "/deliveries?limit=1000"))?.array ?? []
            return Set(all.compactMap { $0["rentalId"] as? String }).isSuperset(of: rentals)
        }
        XCTAssertTrue(allScheduled, "all 50 orders got a delivery")
        let all = try await cluster.request("delivery", "GET", "/deliveries?limit=1000").array
        XCTAssertEqual(all.count, 50, "exactly one each")
    }

    func testCancelRacingDeliveryStartEndsConsistentEverywhere() async throws {
        let copies = 30
        let bookId = try await registerBook(copies: copies)
        var pairs: [(rental: String, delivery: String)] = []
        for _ in 0..<copies {
            let rentalId = try await order(bookId)
            pairs.append((rentalId, ""))
        }
        for index in pairs.indices {
            var found: String?
            _ = await eventually { found = try? await self.deliveryId(of: pairs[index].rental); return found != nil }
            pairs[index].delivery = try XCTUnwrap(found)
        }
        // Fire cancel and start for every rental: at the same moment, or one a few milliseconds after
        // the other, so that both outcomes of the race happen.
        let cluster = self.cluster!
        await withTaskGroup(of: Void.self) { group in
            for (index, pair) in pairs.enumerated() {
                let cancelDelay = index % 3 == 2 ? Duration.milliseconds(index) : .zero
                let startDelay = index % 3 == 1 ? Duration.milliseconds(3 * index) : .zero
                group.addTask {
                    try? await Task.sleep(for: cancelDelay)
                    _ = try? await cluster.request("rental", "POST", "/rentals/\(pair.rental)/cancel")
                }
                group.addTask {
                    try? await Task.sleep(for: startDelay)
                    _ = try? await cluster.request("delivery", "POST", "/deliveries/\(pair.delivery)/start")
                }
            }
        }
        // Each rental settles on one outcome, the same in Rental, Delivery and Lookup.
        var outcomes: [String: Int] = [:]
        for pair in pairs {
            var rentalStatus = "", deliveryStatus = "", lookupStatus = "", lookupDelivery = ""
            let settled = await eventually {
                rentalStatus = (try? await cluster.request("rental", "GET", "/rentals/\(pair.rental)"))?.object["status"] as? String ?? ""
                deliveryStatus = (try? await cluster.request("delivery", "GET", "/deliveries/\(pair.delivery)"))?.object["status"] as? String ?? ""
                let view = (try? await cluster.request("lookup", "GET", "/rentals/\(pair.rental)"))?.object ?? [:]
                lookupStatus = view["status"] as? String ?? ""
                lookupDelivery = view["deliveryStatus"] as? String ?? ""
                return (rentalStatus == "canceled" && deliveryStatus == "canceled" && lookupStatus == "canceled" && lookupDelivery == "canceled")
                    || (rentalStatus == "delivering" && deliveryStatus == "started" && lookupStatus == "delivering" && lookupDelivery == "started")
            }
            XCTAssertTrue(settled, "rental \(rentalStatus), delivery \(deliveryStatus), lookup \(lookupStatus)/\(lookupDelivery)")
            outcomes[rentalStatus, default: 0] += 1
        }
        let book = try await cluster.request("rental", "GET", "/books/\(bookId)").object
        XCTAssertEqual(book["available"] as? Int, outcomes["canceled", default: 0], "each canceled rental gave its copy back exactly once")
        print("cancel/start race: \(outcomes)")
    }
}

/// `bookdelivery up`: everything for a local try-out, stopped cleanly by Ctrl-C (SIGINT).
final class UpCommandTests: XCTestCase {
    func testUpStartsRedisAndTheFourServicesAndCtrlCStopsThemAll() async throws {
        let servicePorts = [8081, 8082, 8083, 8084]
        if servicePorts.contains(where: { TCPPort.isListening($0) }) {
            throw XCTSkip("ports 8081-8084 are in use on this machine")
        }
        let directory = try TemporaryDirectory.make(prefix: "up")
        defer { try? FileManager.default.removeItem(at: directory) }
        let redisPort = try FreePort.find()
        let up = try ChildProcess(
            executable: try ServiceCluster.findExecutable(),
            arguments: ["up", "--redis-port", String(redisPort), "--data", directory.path],
            logFile: directory.appendingPathComponent("up.log").path)
        defer { if up.isRunning { up.signal(SIGKILL); up.wait() } }
        for port in servicePorts + [redisPort] {
            XCTAssertTrue(TCPPort.waitUntilListening(port, timeout: .seconds(30)), "port \(port) is up")
        }

        var request = URLRequest(url: URL(string: "http://127.0.0.1:8081/books")!)
        request.httpMethod = "POST"
        request.httpBody = Data(#"{"title":"Dune","author":"Frank Herbert"}"#.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 201)
        let promoted = await eventually {
            let data = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:8084/alerts")!).0
            return data.map { String(decoding: $0, as: UTF8.self).contains("new_book") } ?? false
        }
        XCTAssertTrue(promoted, "the services talk through up's Redis")

        up.signal(SIGINT)
        XCTAssertTrue(up.wait(timeout: .seconds(20)), "Ctrl-C stops everything")
        for port in servicePorts + [redisPort] {
            XCTAssertFalse(TCPPort.isListening(port), "port \(port) is closed")
        }
        let log = try String(contentsOf: directory.appendingPathComponent("up.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("bookdelivery is up"))
        XCTAssertTrue(log.contains("stopped"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("appendonlydir").path), "AOF under --data")
    }
}
