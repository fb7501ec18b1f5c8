import Bus
import Contracts
import HummingbirdTesting
import ServiceKit
import ServiceTestSupport
import TestSupport
import XCTest

@testable import NotifierService

/// Notifier keeps one alert per event and serves them newest first.
final class NotifierServiceTests: XCTestCase {
    var store: AlertStore!
    var handler: EventRoutes!

    override func setUp() async throws {
        store = try AlertStore.open(path: try temporaryDatabasePath("notifier"))
        handler = NotifierEventHandler(store: store, logger: .test("notifier")).routes
    }

    func testEveryNewBookAndStatusChangeMakesExactlyOneAlert() async throws {
        let book = try BookRegistered(bookId: "b-1", title: "Dune", author: "Frank Herbert", copies: 1).received()
        try await handler.handle(book)
        try await handler.handle(book.redelivered)
        let facts = DeliveryFacts(deliveryId: "d-1", rentalId: "r-1", customerId: "alice")
        try await handler.handle(
            try RentalOrdered(rentalId: "r-1", customerId: "alice", bookId: "b-1", bookTitle: "Dune", address: "x").received())
        try await handler.handle(try DeliveryScheduled(facts: facts).received())  // not a status change customers hear about
        let started = try DeliveryStarted(facts: facts).received()
        try await handler.handle(started)
        try await handler.handle(started.redelivered)
        try await handler.handle(try DeliveryCompleted(facts: facts).received())

        try await withClient(NotifierApplication.buildRouter(store: store, wiring: ServiceWiring(authentication: .disabled))) { client in
            let alerts = try await client.call(.get, "/alerts", as: [AlertResponse].self)
            XCTAssertEqual(alerts.map(\.kind), ["rental_status", "rental_status", "rental_status", "new_book"], "newest first")
            XCTAssertTrue(alerts.last?.message.contains("Dune") ?? false)
            XCTAssertNil(alerts.last?.customerId, "promotions are for everyone")
            XCTAssertEqual(alerts.first?.customerId, "alice")
            XCTAssertEqual(Set(alerts.map(\.eventId)).count, 4, "one alert per event")

            let limited = try await client.call(.get, "/alerts?limit=2", as: [AlertResponse].self).count
            XCTAssertEqual(limited, 2)
            let promotions = try await client.call(.get, "/alerts?kind=new_book", as: [AlertResponse].self).count
            XCTAssertEqual(promotions, 1)
            let bobs = try await client.call(.get, "/alerts?customerId=bob", as: [AlertResponse].self)
            XCTAssertEqual(bobs.map(\.kind), ["new_book"], "bob sees the promotion only")
            try await client.expectError(.get, "/alerts?limit=0", status: .badRequest)
            try await client.expectError(.get, "/alerts?limit=abc", status: .badRequest)
            try await client.expectError(.get, "/alerts?kind=spam", status: .badRequest)
        }
    }
}
