import Bus
import Hummingbird
import HummingbirdTesting
import ServiceKit
import ServiceTestSupport
import XCTest
@testable import Rental

/// Rental's rules through its HTTP API, over a real SQLite file.
final class RentalAPITests: XCTestCase {
    var store: RentalStore!

    override func setUp() async throws {
        store = try RentalStore.open(path: try temporaryDatabasePath("rental"))
    }

    private func withClient(_ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: RentalService.buildRouter(store: store))
        try await app.test(.router) { client in try await test(client) }
    }


    func testRegisteringABookAnnouncesIt() async throws {
        try await withClient { client in
            let (status, book) = try await client.object(.post, "/books", body: #"{"title":"Dune","author":"Frank Herbert","extra":"ignored"}"#)
            XCTAssertEqual(status, .created)
            XCTAssertEqual(book["title"] as? String, "Dune")
            XCTAssertEqual(book["copies"] as? Int, 1, "copies defaults to 1")
            XCTAssertEqual(book["available"] as? Int, 1)
            let id = try XCTUnwrap(book["id"] as? String)
            let (found, fetched) = try await client.object(.get, "/books/\(id)")
            XCTAssertEqual(found, .ok)
            XCTAssertEqual(fetched["author"] as? String, "Frank Herbert")
            let (_, list) = try await client.json(.get, "/books")
            XCTAssertEqual((list as? [Any])?.count, 1)
        }
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["BookRegistered"])
        XCTAssertEqual(try events[0].payload(as: BookRegistered.self).title, "Dune")
    }

    func testBadBookInputIsA400() async throws {
        try await withClient { client in
            try await client.expectError(.post, "/books", body: #"{"author":"x"}"#, status: .badRequest)
            try await client.expectError(.post, "/books", body: #"{"title":"  ","author":"x"}"#, status: .badRequest)
            try await client.expectError(.post, "/books", body: #"{"title":"t","author":"x","copies":0}"#, status: .badRequest)
            try await client.expectError(.post, "/books", body: #"{"title":"t","author":"x","copies":"two"}"#, status: .badRequest)
            try await client.expectError(.post, "/books", body: "{not json", status: .badRequest)
            try await client.expectError(.post, "/books", body: "[1,2]", status: .badRequest)
            try await client.expectError(.post, "/books", status: .badRequest)
            try await client.expectError(.get, "/books/not-a-uuid", status: .badRequest)
            try await client.expectError(.get, "/books/\(UUID())", status: .notFound)
            try await client.expectError(.get, "/nowhere", status: .notFound)
        }
    }

    func testOrderingReservesACopyAndIsRefusedWhenNoneIsLeft() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 1)
        try await withClient { client in
            let order = #"{"customerId":"alice","bookId":"\#(book.id)","address":"1 Main St"}"#
            let (status, rental) = try await client.object(.post, "/rentals", body: order)
            XCTAssertEqual(status, .created)
            XCTAssertEqual(rental["status"] as? String, "ordered")
            XCTAssertEqual(rental["customerId"] as? String, "alice")
            XCTAssertNotNil(rental["createdAt"] as? String)
            let (_, after) = try await client.object(.get, "/books/\(book.id)")
            XCTAssertEqual(after["available"] as? Int, 0)

            try await client.expectError(.post, "/rentals", body: order, status: .conflict)
            try await client.expectError(.post, "/rentals", body: #"{"customerId":"a","bookId":"\#(UUID())","address":"x"}"#, status: .notFound)
            try await client.expectError(.post, "/rentals", body: #"{"customerId":"a","bookId":"nope","address":"x"}"#, status: .badRequest)
            try await client.expectError(.post, "/rentals", body: #"{"customerId":"a","bookId":"\#(book.id)"}"#, status: .badRequest)

            let (_, mine) = try await client.json(.get, "/rentals?customerId=alice")
            XCTAssertEqual((mine as? [Any])?.count, 1)
            let (_, theirs) = try await client.json(.get, "/rentals?customerId=bob")
            XCTAssertEqual((theirs as? [Any])?.count, 0)
            try await client.expectError(.get, "/rentals", status: .badRequest)
        }
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["BookRegistered", "RentalOrdered"])
        let ordered = try events[1].payload(as: RentalOrdered.self)
        XCTAssertEqual(ordered.bookTitle, "Dune")
        XCTAssertEqual(events[1].key, ordered.rentalId, "the rental id is the key")
    }

    func testCancelIsAcceptedUntilTheDeliveryStartsAndRepeatingItIsHarmless() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 2)
        let early = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        let late = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        try await DeliveryEventsHandler(store: store).routes.handle(try deliveryEvent(DeliveryStarted.self, rentalId: late.id))
        try await withClient { client in
            let (status, rental) = try await client.object(.post, "/rentals/\(early.id)/cancel")
            XCTAssertEqual(status, .accepted)
            XCTAssertEqual(rental["status"] as? String, "cancel_requested")
            let (again, _) = try await client.object(.post, "/rentals/\(early.id)/cancel")
            XCTAssertEqual(again, .accepted)
            try await client.expectError(.post, "/rentals/\(late.id)/cancel", status: .conflict)
            try await client.expectError(.post, "/rentals/\(UUID())/cancel", status: .notFound)
        }
        let cancels = try await outboxEvents(in: store.database).filter { $0.type == RentalCancelRequested.type }
        XCTAssertEqual(cancels.count, 1, "one request sent to Delivery, however often the customer clicks")
    }

    func testCanceledDeliveryReleasesTheCopyOnceEvenWhenRedelivered() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 1)
        let rental = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        _ = try await store.requestCancel(id: rental.id)
        let routes = DeliveryEventsHandler(store: store).routes
        let canceled = try deliveryEvent(DeliveryCanceled.self, rentalId: rental.id)
        try await routes.handle(canceled)
        try await routes.handle(canceled.redelivered)
        let after = try await store.rental(id: rental.id)
        XCTAssertEqual(after.status, .canceled)
        let bookAfter = try await store.book(id: book.id)
        XCTAssertEqual(bookAfter.available, 1)
    }

    func testRejectedCancelCompensatesBackToDelivering() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 1)
        let rental = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        _ = try await store.requestCancel(id: rental.id)
        try await DeliveryEventsHandler(store: store).routes.handle(try deliveryEvent(DeliveryCancelRejected.self, rentalId: rental.id))
        let after = try await store.rental(id: rental.id)
        XCTAssertEqual(after.status, .delivering)
        let bookAfter = try await store.book(id: book.id)
        XCTAssertEqual(bookAfter.available, 0, "the copy stays with the delivery")
    }

    func testReturnOnlyOnceDeliveredAndEventsOutOfOrderConverge() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 1)
        let rental = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        let routes = DeliveryEventsHandler(store: store).routes
        try await withClient { client in
            try await client.expectError(.post, "/rentals/\(rental.id)/return", status: .conflict)
            // Completed overtakes Started: the rental still ends delivered.
            try await routes.handle(try deliveryEvent(DeliveryCompleted.self, rentalId: rental.id))
            try await routes.handle(try deliveryEvent(DeliveryStarted.self, rentalId: rental.id))
            let (_, delivered) = try await client.object(.get, "/rentals/\(rental.id)")
            XCTAssertEqual(delivered["status"] as? String, "delivered")
            let (status, returned) = try await client.object(.post, "/rentals/\(rental.id)/return")
            XCTAssertEqual(status, .ok)
            XCTAssertEqual(returned["status"] as? String, "returned")
            try await client.expectError(.post, "/rentals/\(rental.id)/return", status: .conflict)
            let (_, bookAfter) = try await client.object(.get, "/books/\(book.id)")
            XCTAssertEqual(bookAfter["available"] as? Int, 1)
        }
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.last?.type, RentalReturned.type)
    }

    func testHealthAndPrometheusMetrics() async throws {
        try await withClient { client in
            let (status, body) = try await client.object(.get, "/health")
            XCTAssertEqual(status, .ok)
            XCTAssertEqual(body["service"] as? String, "rental")
            try await client.execute(uri: "/metrics", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "text/plain; version=0.0.4")
                let text = String(buffer: response.body)
                XCTAssertTrue(text.contains("# TYPE http_server_request_duration histogram"), "HTTP metrics: \(text.prefix(500))")
                // The registry is the process's, shared with other tests: at least this request was counted.
                let line = text.split(separator: "\n").first { $0.hasPrefix(#"hb_requests{http_route="/health",http_request_method="GET",http_response_status_code="200"}"#) }
                XCTAssertGreaterThanOrEqual(Int(line?.split(separator: " ").last ?? "") ?? 0, 1, "the /health request was counted")
            }
        }
    }
}

/// A delivery event about `rentalId`, as Rental's consumer receives it.
private func deliveryEvent<Event: DeliveryEvent>(_ type: Event.Type, rentalId: String) throws -> ReceivedEvent {
    try Event(facts: DeliveryFacts(deliveryId: "d-\(rentalId)", rentalId: rentalId, customerId: "alice")).received()
}
