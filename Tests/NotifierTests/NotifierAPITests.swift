import Bus
import Hummingbird
import HummingbirdTesting
import ServiceKit
import ServiceTestSupport
import TestSupport
import XCTest
@testable import Notifier

/// Notifier keeps one alert per event and serves them newest first.
final class NotifierAPITests: XCTestCase {
    var store: AlertStore!
    var handler: EventRoutes!

    override func setUp() async throws {
        store = try AlertStore.open(path: try temporaryDatabasePath("notifier"))
        handler = AlertEventsHandler(store: store, logger: .test("notifier")).routes
    }

    private func withClient(_ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: NotifierService.buildRouter(store: store)).test(.router) { try await test($0) }
    }

    func testEveryNewBookAndStatusChangeMakesExactlyOneAlert() async throws {
        let book = try BookRegistered(bookId: "b-1", title: "Dune", author: "Frank Herbert", copies: 1).received()
        try await handler.handle(book)
        try await handler.handle(book.redelivered)
        let facts = DeliveryFacts(deliveryId: "d-1", rentalId: "r-1", customerId: "alice")
        try await handler.handle(try RentalOrdered(rentalId: "r-1", customerId: "alice", bookId: "b-1", bookTitle: "Dune", address: "x").received())
        try await handler.handle(try DeliveryScheduled(facts: facts).received())  // not a status change customers hear about
        let started = try DeliveryStarted(facts: facts).received()
        try await handler.handle(started)
        try await handler.handle(started.redelivered)
        try await handler.handle(try DeliveryCompleted(facts: facts).received())

        try await withClient { client in
            let (status, body) = try await client.json(.get, "/alerts")
            XCTAssertEqual(status, .ok)
            let alerts = try XCTUnwrap(body as? [[String: Any]])
            XCTAssertEqual(alerts.count, 4)
            XCTAssertEqual(alerts.map { $0["kind"] as? String }, ["rental_status", "rental_status", "rental_status", "new_book"], "newest first")
            XCTAssertTrue((alerts.last?["message"] as? String)?.contains("Dune") ?? false)
            XCTAssertNil(alerts.last?["customerId"] as? String, "promotions are for everyone")
            XCTAssertEqual(alerts.first?["customerId"] as? String, "alice")

            let (_, limited) = try await client.json(.get, "/alerts?limit=2")
            XCTAssertEqual((limited as? [Any])?.count, 2)
            let (_, books) = try await client.json(.get, "/alerts?kind=new_book")
            XCTAssertEqual((books as? [Any])?.count, 1)
            let (_, bobs) = try await client.json(.get, "/alerts?customerId=bob")
            XCTAssertEqual((bobs as? [Any])?.count, 1, "bob sees the promotion only")
            try await client.expectError(.get, "/alerts?limit=0", status: .badRequest)
            try await client.expectError(.get, "/alerts?limit=abc", status: .badRequest)
            try await client.expectError(.get, "/alerts?kind=spam", status: .badRequest)
        }
    }
}
