import Contracts
import DeliveryService
import Foundation
import LookupService
import NotifierService
import ProcessSupport
import RentalService
import ServiceKit
import TestSupport
import XCTest

/// The product, end to end: four real service processes, a private redis-server, real HTTP.
final class EndToEndTests: XCTestCase {
    var cluster: ServiceCluster!

    override func setUp() async throws {
        cluster = try await ServiceCluster.start()
    }

    override func tearDown() async throws {
        cluster = nil
    }

    private func registerBook(copies: Int) async throws -> BookResponse {
        try await cluster.fetch("rental", "POST", "/books", body: ["title": "Dune", "author": "Frank Herbert", "copies": copies])
    }

    private func order(_ bookId: String, customer: String = "alice") async throws -> RentalResponse {
        try await cluster.fetch("rental", "POST", "/rentals", body: ["customerId": customer, "bookId": bookId, "address": "1 Main St"])
    }

    private func delivery(of rentalId: String) async throws -> DeliveryResponse? {
        try await cluster.fetch("delivery", "/deliveries?rentalId=\(rentalId)", as: [DeliveryResponse].self).first
    }

    func testTheWholeJourney() async throws {
        let book = try await registerBook(copies: 2)
        let (status, rental) = try await cluster.request(
            "rental", "POST", "/rentals", body: ["customerId": "alice", "bookId": book.id, "address": "1 Main St"],
            headers: ["X-Request-Id": "journey-1"], as: RentalResponse.self)
        XCTAssertEqual(status, 201)

        // Lookup shows it, fed only by events.
        let shown = await eventually {
            let views = try? await self.cluster.fetch("lookup", "/customers/alice/rentals", as: [RentalViewResponse].self)
            return views?.first?.deliveryStatus == "ready"
        }
        XCTAssertTrue(shown, "Lookup shows the rental with its delivery ready")
        // The request's id, in the order's event and in the delivery's that it caused.
        for stream in Streams.all {
            let entries = try cluster.redis.command(["XRANGE", stream, "-", "+"]).array ?? []
            let ids = entries.compactMap { $0.array?[1].hash }.filter { $0["key"] == rental.id }.map {
                "\($0["type"] ?? ""):\($0["requestId"] ?? "")"
            }
            XCTAssertTrue(
                ids.contains(stream == Streams.rental ? "RentalOrdered:journey-1" : "DeliveryScheduled:journey-1"), "\(stream): \(ids)")
        }
        let foundDelivery = try await delivery(of: rental.id)
        let deliveryId = try XCTUnwrap(foundDelivery?.id)

        let started = try await cluster.fetch("delivery", "POST", "/deliveries/\(deliveryId)/start", as: DeliveryResponse.self)
        XCTAssertEqual(started.status, .started)
        let delivering = await eventually {
            (try? await self.cluster.fetch("rental", "/rentals/\(rental.id)", as: RentalResponse.self))?.status == .delivering
        }
        XCTAssertTrue(delivering)

        let refused = try await cluster.request("rental", "POST", "/rentals/\(rental.id)/cancel", as: ErrorBody.self)
        XCTAssertEqual(refused.status, 409, "no cancel once the delivery has started")
        XCTAssertTrue(refused.body.error.contains("delivery has started"), refused.body.error)

        let completed = try await cluster.fetch("delivery", "POST", "/deliveries/\(deliveryId)/complete", as: DeliveryResponse.self)
        XCTAssertEqual(completed.status, .delivered)
        let delivered = await eventually {
            let view = try? await self.cluster.fetch("lookup", "/rentals/\(rental.id)", as: RentalViewResponse.self)
            return view?.status == .delivered && view?.deliveryStatus == "delivered"
        }
        XCTAssertTrue(delivered)
        let returned = try await cluster.fetch("rental", "POST", "/rentals/\(rental.id)/return", as: RentalResponse.self)
        XCTAssertEqual(returned.status, .returned)

        let alerted = await eventually {
            let alerts = (try? await self.cluster.fetch("notifier", "/alerts?limit=100", as: [AlertResponse].self)) ?? []
            return alerts.contains { $0.kind == "new_book" } && alerts.filter { $0.customerId == "alice" }.count == 4
        }
        XCTAssertTrue(alerted, "a promotion, and ordered, on its way, delivered, returned for alice")
        for service in ServiceCluster.services {
            let health = try await cluster.fetch(service, "/health", as: Health.self)
            XCTAssertEqual(health.service, service)
            XCTAssertEqual(health.consumer, "\(service)-1", "--consumer, or CONSUMER_NAME for notifier")
        }
        // Published rows are marked within the relay's markInterval (50 ms).
        let markedPublished = await eventually {
            (try? await self.cluster.fetch("rental", "/health", as: Health.self))?.outboxBacklog == 0
        }
        XCTAssertTrue(markedPublished, "Rental's outbox is empty once everything went out")
        let notifierFile = cluster.directory.appendingPathComponent("notifier.sqlite").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: notifierFile), "DB_PATH from the environment was used")
        let metrics = try await cluster.text("delivery", "/metrics")
        let handled = metrics.split(separator: "\n").first {
            $0.hasPrefix("bus_consumer_events_total{") && $0.contains(#"group="delivery""#) && $0.contains(#"outcome="handled""#)
        }
        XCTAssertNotNil(handled, "Delivery exports its consumer's counts: \(metrics.prefix(800))")
        XCTAssertGreaterThan(Double(handled?.split(separator: " ").last ?? "") ?? 0, 0)
        XCTAssertTrue(metrics.contains("bus_outbox_published_total"))
        // Each consumer records how old the events it applied were: order → delivery scheduled,
        // → visible in Lookup, → alert, as the benchmark reads them.
        for service in ["delivery", "lookup", "notifier"] {
            let lines = try await cluster.text(service, "/metrics").split(separator: "\n").filter {
                $0.hasPrefix("bus_event_age_seconds") && $0.contains(#"group="\#(service)""#) && $0.contains(#"type="RentalOrdered""#)
            }
            let count = lines.first { $0.hasPrefix("bus_event_age_seconds_count{") }
            XCTAssertEqual(count.flatMap { Double($0.split(separator: " ").last ?? "") }, 1, "\(service): one RentalOrdered applied")
            XCTAssertTrue(lines.contains { $0.contains(#"le="0.0025""#) }, "\(service): buckets fine enough for milliseconds")
        }
    }

    func testOrdersPlacedWhileDeliveryIsDownAllGetADeliveryWhenItIsBack() async throws {
        let book = try await registerBook(copies: 100)
        await cluster.stop("delivery")
        var rentals: [String] = []
        for index in 0..<50 { rentals.append(try await order(book.id, customer: "customer-\(index % 5)").id) }
        try await cluster.start("delivery")
        let allScheduled = await eventually(timeout: .seconds(30)) {
            let all = (try? await self.cluster.fetch("delivery", "/deliveries?limit=500", as: [DeliveryResponse].self)) ?? []
            return Set(all.map(\.rentalId)).isSuperset(of: rentals)
        }
        XCTAssertTrue(allScheduled, "all 50 orders got a delivery")
        let all = try await cluster.fetch("delivery", "/deliveries?limit=500", as: [DeliveryResponse].self)
        XCTAssertEqual(all.count, 50, "exactly one each")
    }
}
