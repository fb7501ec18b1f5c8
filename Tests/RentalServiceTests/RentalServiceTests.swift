import Bus
import Contracts
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import ServiceKit
import ServiceTestSupport
import XCTest

@testable import RentalService

/// Rental's rules through its HTTP API, over a real SQLite file.
final class RentalServiceTests: XCTestCase {
    var store: RentalStore!

    override func setUp() async throws {
        store = try RentalStore.open(path: try temporaryDatabasePath("rental"))
    }

    var router: Router<ServiceRequestContext> {
        RentalApplication.buildRouter(store: store, wiring: ServiceWiring(authentication: .disabled))
    }
    var routes: EventRoutes { RentalEventHandler(store: store).routes }

    func available(_ bookId: String) async throws -> Int {
        try await store.book(id: bookId).available
    }

    func testRegisteringABookAnnouncesIt() async throws {
        try await withClient(router) { client in
            let book = try await client.call(
                .post, "/books", body: #"{"title":"Dune","author":"Frank Herbert","extra":"ignored"}"#, as: BookResponse.self,
                status: .created)
            XCTAssertEqual(book.title, "Dune")
            XCTAssertEqual(book.copies, 1, "copies defaults to 1")
            XCTAssertEqual(book.available, 1)
            let fetched = try await client.call(.get, "/books/\(book.id)", as: BookResponse.self)
            XCTAssertEqual(fetched, book)
            let list = try await client.call(.get, "/books", as: [BookResponse].self)
            XCTAssertEqual(list, [book])
        }
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["BookRegistered"])
        XCTAssertEqual(try events[0].payload(as: BookRegistered.self).title, "Dune")
    }

    func testBadBookInputIsA400() async throws {
        try await withClient(router) { client in
            try await client.expectError(.post, "/books", body: #"{"author":"x"}"#, status: .badRequest)
            try await client.expectError(.post, "/books", body: #"{"title":"  ","author":"x"}"#, status: .badRequest)
            try await client.expectError(.post, "/books", body: #"{"title":"t","author":"x","copies":0}"#, status: .badRequest)
            try await client.expectError(.post, "/books", body: #"{"title":"t","author":"x","copies":"two"}"#, status: .badRequest)
            try await client.expectError(.post, "/books", body: "{not json", status: .badRequest)
            try await client.expectError(.post, "/books", body: "[1,2]", status: .badRequest)
            try await client.expectError(.post, "/books", status: .badRequest)
            let newline = try await client.expectError(
                .post, "/books", body: #"{"title":"Dune\nINFO forged","author":"x"}"#, status: .badRequest)
            XCTAssertTrue(newline.contains("control characters"), newline)
            try await client.expectError(.post, "/books", body: #"{"title":"Dune\u0000","author":"x"}"#, status: .badRequest)
            let fractional = try await client.expectError(
                .post, "/books", body: #"{"title":"t","author":"x","copies":2.5}"#, status: .badRequest)
            XCTAssertTrue(fractional.contains("'copies'"), "names the field: \(fractional)")
            let huge = try await client.expectError(
                .post, "/books", body: #"{"title":"t","author":"x","copies":1e30}"#, status: .badRequest)
            XCTAssertTrue(huge.contains("'copies'"), "names the field: \(huge)")
            try await client.expectError(.get, "/books/not-a-uuid", status: .badRequest)
            try await client.expectError(.get, "/books/\(UUID())", status: .notFound)
            try await client.expectError(.get, "/nowhere", status: .notFound)
            try await client.execute(uri: "/rentals/\(UUID())/cancel", method: .get) { response in
                XCTAssertEqual(response.status, .methodNotAllowed, "a known path with another method")
                XCTAssertEqual(response.headers[.allow], "POST")
            }
            try await client.execute(uri: "/books", method: .delete) { response in
                XCTAssertEqual(response.status, .methodNotAllowed)
                XCTAssertEqual(response.headers[.allow], "GET, HEAD, POST")
            }
        }
    }

    /// `X-Request-Id` reaches the events the request causes, through group commit (whose
    /// transaction runs on the writer's queue, not in the request's task), and comes back.
    func testTheRequestIdIsCarriedIntoTheEventsItCausesAndAnswered() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 3)
        try await withClient(router) { client in
            let order = #"{"customerId":"alice","bookId":"\#(book.id)","address":"1 Main St"}"#
            let answers = try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<3 {
                    group.addTask {
                        let response = try await client.execute(
                            uri: "/rentals", method: .post, headers: [.contentType: "application/json", RequestID.header: "req-\(index)"],
                            body: ByteBuffer(string: order))
                        XCTAssertEqual(response.status, .created)
                        return response.headers[RequestID.header]
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(Set(answers.compactMap { $0 }), ["req-0", "req-1", "req-2"], "each answer carries its own")
            let refused = try await client.execute(
                uri: "/books/\(book.id)", method: .get, headers: [RequestID.header: String(repeating: "x", count: 200)])
            XCTAssertNil(refused.headers[RequestID.header], "an id that is not a sensible one is not taken")
        }
        let ordered = try await outboxEvents(in: store.database).filter { $0.type == "RentalOrdered" }
        XCTAssertEqual(Set(ordered.map(\.requestId)), ["req-0", "req-1", "req-2"], "each order's event carries its request's id")
        let registered = try await outboxEvents(in: store.database).filter { $0.type == "BookRegistered" }
        XCTAssertEqual(registered.map(\.requestId), [""], "a change made outside a request has none")
    }

    func testOrderingReservesACopyAndIsRefusedWhenNoneIsLeft() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 2)
        try await withClient(router) { client in
            let order = #"{"customerId":"alice","bookId":"\#(book.id)","address":"1 Main St"}"#
            let rental = try await client.call(.post, "/rentals", body: order, as: RentalResponse.self, status: .created)
            XCTAssertEqual(rental.status, .ordered)
            XCTAssertEqual(rental.customerId, "alice")
            XCTAssertFalse(rental.createdAt.isEmpty)
            let availableAfterOne = try await client.call(.get, "/books/\(book.id)", as: BookResponse.self).available
            XCTAssertEqual(availableAfterOne, 1)
            _ = try await client.call(.post, "/rentals", body: order, as: RentalResponse.self, status: .created)
            let availableAfterTwo = try await client.call(.get, "/books/\(book.id)", as: BookResponse.self).available
            XCTAssertEqual(availableAfterTwo, 0)

            try await client.expectError(.post, "/rentals", body: order, status: .conflict)
            try await client.expectError(
                .post, "/rentals", body: #"{"customerId":"a","bookId":"\#(UUID())","address":"x"}"#, status: .notFound)
            try await client.expectError(.post, "/rentals", body: #"{"customerId":"a","bookId":"nope","address":"x"}"#, status: .badRequest)
            try await client.expectError(.post, "/rentals", body: #"{"customerId":"a","bookId":"\#(book.id)"}"#, status: .badRequest)

            let alices = try await client.call(.get, "/rentals?customerId=alice", as: [RentalResponse].self).count
            XCTAssertEqual(alices, 2)
            let bobs = try await client.call(.get, "/rentals?customerId=bob", as: [RentalResponse].self)
            XCTAssertEqual(bobs, [])
            try await client.expectError(.get, "/rentals", status: .badRequest)
        }
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["BookRegistered", "RentalOrdered", "RentalOrdered"])
        let ordered = try events[1].payload(as: RentalOrdered.self)
        XCTAssertEqual(ordered.bookTitle, "Dune")
        XCTAssertEqual(events[1].key, ordered.rentalId, "the rental id is the key")
    }

    /// The order's own INSERT and UPDATE write every column: read back, the rental is the one answered.
    func testAnOrderedRentalIsStoredWhole() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 3)
        let ordered = try await store.order(customerId: "alice", bookId: book.id, address: "1 Main St")
        let stored = try await store.rental(id: ordered.id)
        XCTAssertEqual(stored, ordered)
        XCTAssertEqual(stored.status, .ordered)
        let available = try await store.book(id: book.id).available
        XCTAssertEqual(available, 2)
    }

    func testARetriedOrderWithTheSameIdempotencyKeyIsOneOrder() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 5)
        try await withClient(router) { client in
            let order = #"{"customerId":"alice","bookId":"\#(book.id)","address":"1 Main St"}"#
            func post(_ body: String, key: String) async throws -> (HTTPResponse.Status, RentalResponse?, String?) {
                try await client.execute(
                    uri: "/rentals", method: .post, headers: [.contentType: "application/json", IdempotentWrites.header: key],
                    body: ByteBuffer(string: body)
                ) { response in
                    (
                        response.status, try? JSONDecoder().decode(RentalResponse.self, from: Data(response.body.readableBytesView)),
                        response.headers[IdempotentWrites.replayedHeader]
                    )
                }
            }
            let first = try await post(order, key: "order-1")
            let retry = try await post(order, key: "order-1")
            XCTAssertEqual(first.0, .created)
            XCTAssertEqual(retry.0, .created)
            XCTAssertEqual(retry.1?.id, first.1?.id, "the same rental, not a second one")
            XCTAssertEqual(retry.2, "true")
            let changed = try await post(order.replacingOccurrences(of: "1 Main St", with: "2 Side St"), key: "order-1")
            XCTAssertEqual(changed.0, .unprocessableContent, "the same key for another order")
            let another = try await post(order, key: "order-2")
            XCTAssertEqual(another.0, .created)
            XCTAssertNotEqual(another.1?.id, first.1?.id)
        }
        let rentals = try await store.rentals(customerId: "alice")
        XCTAssertEqual(rentals.count, 2)
        let stillAvailable = try await available(book.id)
        XCTAssertEqual(stillAvailable, 3, "one copy per order")
        let orders = try await outboxEvents(in: store.database).filter { $0.type == RentalOrdered.type }
        XCTAssertEqual(orders.count, 2, "one event per order")
    }

    func testALockedDatabaseAnswers503WithRetryAfterQuickly() async throws {
        let path = try temporaryDatabasePath("locked")
        store = try RentalStore.open(path: path)
        // Another process's exclusive transaction, held on a thread of its own until the test ends.
        let locker = try DatabaseQueue(path: path)
        let (locked, release) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        Thread {
            try? locker.writeWithoutTransaction { db in
                try db.inTransaction(.exclusive) {
                    locked.signal()
                    release.wait()
                    return .rollback
                }
            }
        }.start()
        locked.wait()
        defer { release.signal() }
        try await withClient(router) { client in
            try await client.execute(
                uri: "/books", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"title":"Dune","author":"Herbert"}"#)
            ) { response in
                XCTAssertEqual(response.status, .serviceUnavailable, String(buffer: response.body))
                XCTAssertEqual(response.headers[.retryAfter], "1")
                XCTAssertTrue(String(buffer: response.body).contains("try again"))
            }
        }
    }

    func testHealthAndPrometheusMetrics() async throws {
        try await withClient(router) { client in
            let health = try await client.call(.get, "/health", as: Health.self)
            XCTAssertEqual(health.service, "rental")
            try await client.execute(uri: "/metrics", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "text/plain; version=0.0.4")
                let text = String(buffer: response.body)
                XCTAssertTrue(text.contains("# TYPE http_server_request_duration histogram"), "HTTP metrics: \(text.prefix(500))")
                // The registry is the process's, shared with other tests: at least this request was counted.
                let line = text.split(separator: "\n").first {
                    $0.hasPrefix(#"hb_requests{http_route="/health",http_request_method="GET",http_response_status_code="200"}"#)
                }
                XCTAssertGreaterThanOrEqual(Int(line?.split(separator: " ").last ?? "") ?? 0, 1, "the /health request was counted")
                // Buckets fine enough below 5 ms for a p99 of a few milliseconds to be read from them.
                let bucket =
                    #"http_server_request_duration_bucket{http_route="/health",http_request_method="GET",http_response_status_code="200",le="0.001"}"#
                XCTAssertTrue(text.split(separator: "\n").contains { $0.hasPrefix(bucket) }, "a 1 ms bucket: \(text.prefix(500))")
            }
        }
    }
}

/// A delivery event about `rentalId`, as Rental's consumer receives it.
func deliveryEvent<Event: DeliveryEvent>(_ type: Event.Type, rentalId: String) throws -> ReceivedEvent {
    try Event(facts: DeliveryFacts(deliveryId: "d-\(rentalId)", rentalId: rentalId, customerId: "alice")).received()
}

extension RentalServiceTests {
    func testTheCatalogueComesAPageAtATimeWithALinkToTheNext() async throws {
        var registered: [String] = []
        for index in 0..<5 { registered.append(try await store.registerBook(title: "Book \(index)", author: "A", copies: 1).id) }
        let expected = Set(registered)
        try await withClient(router) { client in
            var seen: [String] = []
            var next: String? = "/books?limit=2"
            while let uri = next {
                let response = try await client.execute(uri: uri, method: .get)
                XCTAssertEqual(response.status, .ok)
                let page = try JSONDecoder().decode([BookResponse].self, from: Data(response.body.readableBytesView))
                seen += page.map(\.id)
                next = response.headers[.link].flatMap { $0.split(separator: ";").first.map { String($0.dropFirst().dropLast()) } }
                XCTAssertEqual(next == nil, seen.count == 5, "a link while more follow, none on the last page")
            }
            XCTAssertEqual(seen.count, 5, "each book once")
            XCTAssertEqual(Set(seen), expected)
            try await client.expectError(.get, "/books?limit=501", status: .badRequest)
            try await client.expectError(.get, "/books?limit=0", status: .badRequest)
            try await client.expectError(.get, "/books?cursor=bm90LWEtY3Vyc29y", status: .badRequest)
        }
    }
}
