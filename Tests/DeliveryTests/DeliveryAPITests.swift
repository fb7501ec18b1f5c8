import Bus
import Hummingbird
import HummingbirdTesting
import ServiceKit
import ServiceTestSupport
import XCTest
@testable import Delivery

/// Delivery's rules through its HTTP API and its event handler, over a real SQLite file.
final class DeliveryAPITests: XCTestCase {
    var store: DeliveryStore!
    var routes: EventRoutes!

    override func setUp() async throws {
        store = try DeliveryStore.open(path: try temporaryDatabasePath("delivery"))
        routes = RentalEventsHandler(store: store).routes
    }

    private func withClient(_ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: DeliveryService.buildRouter(store: store)).test(.router) { try await test($0) }
    }

    private func order(_ rentalId: String = UUID().uuidString.lowercased()) throws -> ReceivedEvent {
        try RentalOrdered(rentalId: rentalId, customerId: "alice", bookId: "b-1", bookTitle: "Dune", address: "1 Main St").received()
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
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["DeliveryScheduled"])
        XCTAssertEqual(events[0].causationId, ordered.envelope.id, "caused by the order")
        XCTAssertEqual(events[0].correlationId, ordered.envelope.correlationId)
    }

    func testStartAndCompleteThroughHTTP() async throws {
        let ordered = try order()
        try await routes.handle(ordered)
        let rentalId = try ordered.envelope.payload(as: RentalOrdered.self).rentalId
        let id = try await delivery(of: rentalId).id
        try await withClient { client in
            let (_, list) = try await client.json(.get, "/deliveries?rentalId=\(rentalId)")
            XCTAssertEqual((list as? [[String: Any]])?.first?["status"] as? String, "ready")
            try await client.expectError(.post, "/deliveries/\(id)/complete", status: .conflict)
            let (started, body) = try await client.object(.post, "/deliveries/\(id)/start")
            XCTAssertEqual(started, .ok)
            XCTAssertEqual(body["status"] as? String, "started")
            let (again, _) = try await client.object(.post, "/deliveries/\(id)/start")
            XCTAssertEqual(again, .ok, "starting twice is harmless")
            let (completed, done) = try await client.object(.post, "/deliveries/\(id)/complete")
            XCTAssertEqual(completed, .ok)
            XCTAssertEqual(done["status"] as? String, "delivered")
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
        try await withClient { client in
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
        try await routes.handle(try order(rentalId))
        let delivery = try await delivery(of: rentalId)
        XCTAssertEqual(delivery.status, .canceled)
        XCTAssertEqual(delivery.address, "1 Main St", "the late order still fills in the address")
        let events = try await outboxEvents(in: store.database)
        XCTAssertEqual(events.map(\.type), ["DeliveryCanceled"])
    }

    func testABatchCommitsTogetherButAFailingEventIsRolledBackAlone() async throws {
        let first = try order()
        let second = try order()
        var envelope = try order().envelope
        envelope.data = #"{"rentalId": 42}"#  // a payload no handler can read
        let brokenEvent = ReceivedEvent(envelope: envelope, stream: first.stream, entryId: "1-0", deliveries: 1)
        let outcomes = await routes.batchHandler([first, brokenEvent, second, first.redelivered])
        XCTAssertEqual(outcomes.map { $0 == nil }, [true, false, true, true])
        let all = try await store.deliveries(rentalId: nil)
        XCTAssertEqual(all.count, 2, "the two good orders, once each")
        let inboxed = try await store.database.read { try String.fetchAll($0, sql: "SELECT eventId FROM inbox") }
        XCTAssertFalse(inboxed.contains(envelope.id), "the failed event is not marked handled, so its retry can succeed")
    }

    func testHealth() async throws {
        try await withClient { client in
            let (status, body) = try await client.object(.get, "/health")
            XCTAssertEqual(status, .ok)
            XCTAssertEqual(body["service"] as? String, "delivery")
        }
    }
}
