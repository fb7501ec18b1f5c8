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

/// The saga as Rental lives it: cancel requests, Delivery's answers, returns, events in any order.
extension RentalServiceTests {
    func testCancelIsAcceptedUntilTheDeliveryStartsAndRepeatingItIsHarmless() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 2)
        let early = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        let late = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        try await routes.handle(try deliveryEvent(DeliveryStarted.self, rentalId: late.id))
        try await withClient(router) { client in
            let rental = try await client.call(.post, "/rentals/\(early.id)/cancel", as: RentalResponse.self, status: .accepted)
            XCTAssertEqual(rental.status, .cancelRequested)
            _ = try await client.call(.post, "/rentals/\(early.id)/cancel", as: RentalResponse.self, status: .accepted)
            let refusal = try await client.expectError(.post, "/rentals/\(late.id)/cancel", status: .conflict)
            XCTAssertTrue(refusal.contains("delivery has started"), refusal)
            try await client.expectError(.post, "/rentals/\(UUID())/cancel", status: .notFound)
        }
        let cancels = try await outboxEvents(in: store.database).filter { $0.type == RentalCancelRequested.type }
        XCTAssertEqual(cancels.count, 1, "one request sent to Delivery, however often the customer clicks")
    }

    func testCanceledDeliveryReleasesTheCopyOnceEvenWhenRedelivered() async throws {
        // Three copies, two out: a double release would show as 3 available (the CHECK allows it).
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 3)
        let rental = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        _ = try await store.order(customerId: "bob", bookId: book.id, address: "y")
        _ = try await store.requestCancel(id: rental.id)
        let canceled = try deliveryEvent(DeliveryCanceled.self, rentalId: rental.id)
        try await routes.handle(canceled)
        try await routes.handle(canceled.redelivered)
        let redundant = try deliveryEvent(DeliveryCanceled.self, rentalId: rental.id)  // another event id, same news
        try await routes.handle(redundant)
        let status = try await store.rental(id: rental.id).status
        XCTAssertEqual(status, .canceled)
        let stillAvailable = try await available(book.id)
        XCTAssertEqual(stillAvailable, 2, "the canceled rental's copy came back once")
    }

    func testRejectedCancelCompensatesBackToDelivering() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 2)
        let rental = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        _ = try await store.requestCancel(id: rental.id)
        try await routes.handle(try deliveryEvent(DeliveryCancelRejected.self, rentalId: rental.id))
        let status = try await store.rental(id: rental.id).status
        XCTAssertEqual(status, .delivering)
        let stillAvailable = try await available(book.id)
        XCTAssertEqual(stillAvailable, 1, "the copy stays with the delivery")
    }

    func testReturnOnlyOnceDeliveredAndEventsOutOfOrderConverge() async throws {
        let book = try await store.registerBook(title: "Dune", author: "Herbert", copies: 2)
        let rental = try await store.order(customerId: "alice", bookId: book.id, address: "x")
        _ = try await store.order(customerId: "bob", bookId: book.id, address: "y")
        let routes = self.routes
        try await withClient(router) { client in
            try await client.expectError(.post, "/rentals/\(rental.id)/return", status: .conflict)
            // Completed overtakes Started: the rental still ends delivered.
            try await routes.handle(try deliveryEvent(DeliveryCompleted.self, rentalId: rental.id))
            try await routes.handle(try deliveryEvent(DeliveryStarted.self, rentalId: rental.id))
            let status = try await client.call(.get, "/rentals/\(rental.id)", as: RentalResponse.self).status
            XCTAssertEqual(status, .delivered)
            let returned = try await client.call(.post, "/rentals/\(rental.id)/return", as: RentalResponse.self)
            XCTAssertEqual(returned.status, .returned)
            try await client.expectError(.post, "/rentals/\(rental.id)/return", status: .conflict)
            let available = try await client.call(.get, "/books/\(book.id)", as: BookResponse.self).available
            XCTAssertEqual(available, 1, "bob still has his")
        }
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.last?.type, RentalReturned.type)
    }

    func testARentalNeverMovesBackInItsLifecycle() {
        var rental = Rental(id: "r", customerId: "a", bookId: "b", address: "x", status: .delivered, createdAt: "", updatedAt: "")
        XCTAssertFalse(rental.advance(to: .delivering).changed, "a late DeliveryStarted changes nothing")
        XCTAssertEqual(rental.status, .delivered)
        var ordered = Rental(id: "r", customerId: "a", bookId: "b", address: "x", status: .ordered, createdAt: "", updatedAt: "")
        XCTAssertTrue(ordered.advance(to: .canceled) == (true, true), "canceling releases the copy")
        XCTAssertTrue(ordered.advance(to: .canceled) == (false, false), "and only once")
    }
}
