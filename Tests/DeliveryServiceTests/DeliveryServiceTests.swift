import Bus
import Contracts
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import ServiceKit
import ServiceTestSupport
import XCTest

@testable import DeliveryService

/// Delivery's rules through its HTTP API and its event handler, over a real SQLite file.
final class DeliveryServiceTests: XCTestCase {
    var store: DeliveryStore!
    var routes: EventRoutes!

    override func setUp() async throws {
        store = try DeliveryStore.open(path: try temporaryDatabasePath("delivery"))
        routes = DeliveryEventHandler(store: store).routes
    }

    private var router: Router<ServiceRequestContext> {
        DeliveryApplication.buildRouter(store: store, wiring: ServiceWiring(authentication: .disabled))
    }

    private func order(_ rentalId: String = UUID().uuidString.lowercased()) throws -> ReceivedEvent {
        let order = try RentalOrdered(rentalId: rentalId, customerId: "alice", bookId: "b-1", bookTitle: "Dune", address: "1 Main St")
            .received()
        var envelope = order.envelope
        envelope.requestId = "req-\(rentalId.prefix(8))"
        return ReceivedEvent(envelope: envelope, stream: order.stream, entryId: order.entryId, attempt: order.attempt)
    }

    private func cancelRequest(_ rentalId: String) throws -> ReceivedEvent {
        try RentalCancelRequested(rentalId: rentalId, customerId: "alice", bookId: "b-1").received()
    }

    private func delivery(of rentalId: String) async throws -> Delivery {
        let deliveries = try await store.deliveries(rentalId: rentalId)
        XCTAssertEqual(deliveries.count, 1, "exactly one delivery per rental")
        return try XCTUnwrap(deliveries.first)
    }

    func testAnOrderSchedulesOneDeliveryEvenWhenRedelivered() async throws {
        let ordered = try order()
        try await routes.handle(ordered)
        try await routes.handle(ordered.redelivered)
        let rentalId = try ordered.envelope.payload(as: RentalOrdered.self).rentalId
        let delivery = try await delivery(of: rentalId)
        XCTAssertEqual(delivery.status, .ready)
        XCTAssertEqual(delivery.address, "1 Main St")
        XCTAssertEqual([delivery.rentalId, delivery.customerId, delivery.bookId], [rentalId, "alice", "b-1"], "every column written")
        XCTAssertEqual(delivery.bookTitle, "Dune", "the title the order carried is kept")
        XCTAssertFalse(delivery.createdAt.isEmpty)
        XCTAssertEqual(delivery.createdAt, delivery.updatedAt)
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["DeliveryScheduled"])
        XCTAssertEqual(events[0].causationId, ordered.envelope.id, "caused by the order")
        XCTAssertEqual(events[0].correlationId, ordered.envelope.correlationId)
        XCTAssertEqual(events[0].requestId, ordered.envelope.requestId, "the request that placed the order, carried on")
    }

    func testStartAndCompleteThroughHTTP() async throws {
        let ordered = try order()
        try await routes.handle(ordered)
        let rentalId = try ordered.envelope.payload(as: RentalOrdered.self).rentalId
        let id = try await delivery(of: rentalId).id
        try await withClient(router) { client in
            let list = try await client.call(.get, "/deliveries?rentalId=\(rentalId)", as: [DeliveryResponse].self)
            XCTAssertEqual(list.map(\.status), [.ready])
            try await client.expectError(.post, "/deliveries/\(id)/complete", status: .conflict)
            let started = try await client.call(.post, "/deliveries/\(id)/start", as: DeliveryResponse.self)
            XCTAssertEqual(started.status, .started)
            let again = try await client.call(.post, "/deliveries/\(id)/start", as: DeliveryResponse.self)
            XCTAssertEqual(again, started, "starting twice is harmless")
            let done = try await client.call(.post, "/deliveries/\(id)/complete", as: DeliveryResponse.self)
            XCTAssertEqual(done.status, .delivered)
            try await client.expectError(.post, "/deliveries/\(id)/start", status: .conflict)
            try await client.expectError(.get, "/deliveries/\(UUID())", status: .notFound)
            try await client.expectError(.get, "/deliveries/nope", status: .badRequest)
            try await client.expectError(.get, "/deliveries?rentalId=nope", status: .badRequest)
        }
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["DeliveryScheduled", "DeliveryStarted", "DeliveryCompleted"])
    }

    func testCancelBeforeStartCancelsAndStartIsThenRefused() async throws {
        let ordered = try order()
        try await routes.handle(ordered)
        let rentalId = try ordered.envelope.payload(as: RentalOrdered.self).rentalId
        try await routes.handle(try cancelRequest(rentalId))
        let delivery = try await delivery(of: rentalId)
        XCTAssertEqual(delivery.status, .canceled)
        try await withClient(router) { client in
            try await client.expectError(.post, "/deliveries/\(delivery.id)/start", status: .conflict)
        }
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["DeliveryScheduled", "DeliveryCanceled"])
    }

    func testCancelAfterStartIsRejectedWithAnEvent() async throws {
        let ordered = try order()
        try await routes.handle(ordered)
        let rentalId = try ordered.envelope.payload(as: RentalOrdered.self).rentalId
        _ = try await store.start(id: try await delivery(of: rentalId).id)
        try await routes.handle(try cancelRequest(rentalId))
        let delivery = try await delivery(of: rentalId)
        XCTAssertEqual(delivery.status, .started)
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["DeliveryScheduled", "DeliveryStarted", "DeliveryCancelRejected"])
    }

    func testCancelRequestOvertakingTheOrderStillEndsCanceled() async throws {
        let rentalId = UUID().uuidString.lowercased()
        try await routes.handle(try cancelRequest(rentalId))
        let beforeTheOrder = try await delivery(of: rentalId)
        XCTAssertNil(beforeTheOrder.bookTitle, "a cancel request does not carry the title")
        try await routes.handle(try order(rentalId))
        let delivery = try await delivery(of: rentalId)
        XCTAssertEqual(delivery.status, .canceled)
        XCTAssertEqual(delivery.address, "1 Main St", "the late order still fills in the address")
        XCTAssertEqual(delivery.bookTitle, "Dune", "and the title")
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["DeliveryCanceled"])
    }

    func testABatchCommitsTogetherButAFailingEventIsRolledBackAlone() async throws {
        let first = try order()
        let second = try order()
        var envelope = try order().envelope
        envelope.data = #"{"rentalId": 42}"#  // a payload no handler can read
        let brokenEvent = ReceivedEvent(envelope: envelope, stream: first.stream, entryId: "1-0", attempt: 1)
        let outcomes = await routes.batchHandler([first, brokenEvent, second, first.redelivered])
        XCTAssertEqual(outcomes.map { $0 == nil }, [true, false, true, true])
        let all = try await store.deliveries(rentalId: nil)
        XCTAssertEqual(all.count, 2, "the two good orders, once each")
        let inboxed = try await store.database.read { try String.fetchAll($0, sql: "SELECT eventId FROM inbox") }
        XCTAssertFalse(inboxed.contains(envelope.id), "the failed event is not marked handled, so its retry can succeed")
    }

    /// `delivery-v2` on a database of `delivery-v1`: its deliveries show no title (unknown), new
    /// ones do, and the API says so by leaving `bookTitle` out.
    func testADeliveryFromBeforeTitlesWereKeptHasNoneAndNewOnesHaveTheirs() async throws {
        let path = try temporaryDatabasePath("delivery-v1")
        let old = try DatabaseQueue(path: path)
        try DeliveryDatabase.migrator.migrate(old, upTo: "delivery-v1")
        let oldId = UUID().uuidString.lowercased()
        try await old.write { db in
            try db.execute(
                sql: """
                    INSERT INTO deliveries (id, rentalId, customerId, bookId, address, status, createdAt, updatedAt)
                    VALUES (?, ?, 'alice', 'b-0', 'x', 'ready', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')
                    """, arguments: [oldId, UUID().uuidString.lowercased()])
        }
        try old.close()
        store = try DeliveryStore.open(path: path)
        routes = DeliveryEventHandler(store: store).routes
        let ordered = try order()
        try await routes.handle(ordered)
        let newRentalId = try ordered.envelope.payload(as: RentalOrdered.self).rentalId
        try await withClient(router) { client in
            let response = try await client.execute(uri: "/deliveries/\(oldId)", method: .get)
            XCTAssertEqual(response.status, .ok)
            let fields = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
            XCTAssertNil(fields?["bookTitle"], "unknown: left out")
            XCTAssertEqual(fields?["bookId"] as? String, "b-0")
            let new = try await client.call(.get, "/deliveries?rentalId=\(newRentalId)", as: [DeliveryResponse].self)
            XCTAssertEqual(new.map(\.bookTitle), ["Dune"])
        }
    }

    func testHealth() async throws {
        try await withClient(router) { client in
            let service = try await client.call(.get, "/health", as: Health.self).service
            XCTAssertEqual(service, "delivery")
        }
    }
}
