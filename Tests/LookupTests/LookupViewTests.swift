import Bus
import Hummingbird
import HummingbirdTesting
import ServiceKit
import ServiceTestSupport
import TestSupport
import XCTest
@testable import Lookup

/// Lookup's views in a real Redis: duplicates and any arrival order converge; a rebuild from the
/// streams gives the same views.
final class LookupViewTests: XCTestCase {
    var redis: RedisServer!
    var views: RentalViewStore!

    override func setUp() async throws {
        redis = try RedisServer()
        views = RentalViewStore(pool: RedisClientPool(endpoint: redis.endpoint, size: 2, name: "views", logger: .test("lookup")))
    }

    override func tearDown() async throws {
        views = nil
        redis = nil  // XCTest keeps test-case instances to the end: stop the server now
    }

    /// The events of one rental's happy path.
    private func lifecycle(rentalId: String, customerId: String = "alice") throws -> [EventEnvelope] {
        let facts = DeliveryFacts(deliveryId: "d-\(rentalId)", rentalId: rentalId, customerId: customerId)
        return try [
            RentalOrdered(rentalId: rentalId, customerId: customerId, bookId: "b-1", bookTitle: "Dune", address: "x").outgoing(),
            DeliveryScheduled(facts: facts).outgoing(),
            DeliveryStarted(facts: facts).outgoing(),
            DeliveryCompleted(facts: facts).outgoing(),
            RentalReturned(rentalId: rentalId, customerId: customerId, bookId: "b-1").outgoing(),
        ].map(\.envelope)
    }

    func testEveryArrivalOrderAndDuplicatesConvergeToTheSameView() async throws {
        let events = try lifecycle(rentalId: "r-ordered")
        for event in events { try await views.apply(event) }
        let expected = try await views.view(rentalId: "r-ordered")
        XCTAssertEqual(expected?.status, "returned")
        XCTAssertEqual(expected?.deliveryStatus, "delivered")
        XCTAssertEqual(expected?.bookTitle, "Dune")

        for round in 0..<10 {
            let rentalId = "r-shuffled-\(round)"
            var generator = SeededGenerator(seed: UInt64(round + 1))
            let shuffled = try (lifecycle(rentalId: rentalId) + lifecycle(rentalId: rentalId)).shuffled(using: &generator)
            for event in shuffled { try await views.apply(event) }
            let view = try await views.view(rentalId: rentalId)
            XCTAssertEqual(view?.status, expected?.status, "round \(round)")
            XCTAssertEqual(view?.deliveryStatus, expected?.deliveryStatus, "round \(round)")
            XCTAssertEqual(view?.bookTitle, "Dune", "round \(round)")
        }
    }

    func testCancelOvertakingTheOrderEndsCanceled() async throws {
        let facts = DeliveryFacts(deliveryId: "d", rentalId: "r-1", customerId: "alice")
        try await views.apply(try DeliveryCanceled(facts: facts).outgoing().envelope)
        try await views.apply(try RentalCancelRequested(rentalId: "r-1", customerId: "alice", bookId: "b").outgoing().envelope)
        try await views.apply(try RentalOrdered(rentalId: "r-1", customerId: "alice", bookId: "b", bookTitle: "Dune", address: "x").outgoing().envelope)
        let view = try await views.view(rentalId: "r-1")
        XCTAssertEqual(view?.status, "canceled")
        XCTAssertEqual(view?.deliveryStatus, "canceled")
    }

    func testHTTPServesACustomersRentalsAndRebuildGivesTheSameViews() async throws {
        let publisher = StreamPublisher(client: RedisClient(endpoint: redis.endpoint, logger: .test("p")))
        let first = UUID().uuidString.lowercased()
        let second = UUID().uuidString.lowercased()
        for rentalId in [first, second] {
            try await Task.sleep(for: .milliseconds(5))  // distinct order times: the list is ordered by them
            let events = try lifecycle(rentalId: rentalId).prefix(rentalId == first ? 5 : 2)
            try await publisher.publish(events.map { OutgoingEvent(stream: $0.type.hasPrefix("Rental") ? Streams.rental : Streams.delivery, envelope: $0) })
            for event in events { try await views.apply(event) }
        }
        let app = Application(router: LookupService.buildRouter(views: views))
        try await app.test(.router) { client in
            let (status, body) = try await client.json(.get, "/customers/alice/rentals")
            XCTAssertEqual(status, .ok)
            let list = try XCTUnwrap(body as? [[String: Any]])
            XCTAssertEqual(list.map { $0["rentalId"] as? String }, [second, first], "newest order first")
            XCTAssertEqual(list.first?["deliveryStatus"] as? String, "ready")
            let (one, view) = try await client.object(.get, "/rentals/\(first)")
            XCTAssertEqual(one, .ok)
            XCTAssertEqual(view["status"] as? String, "returned")
            let (_, nobody) = try await client.json(.get, "/customers/nobody/rentals")
            XCTAssertEqual((nobody as? [Any])?.count, 0)
            try await client.expectError(.get, "/rentals/\(UUID())", status: .notFound)
            try await client.expectError(.get, "/rentals/x", status: .badRequest)
        }

        let before = try await views.views(customerId: "alice")
        _ = try redis.command(["DEL", RentalViewStore.rentalKey(first), RentalViewStore.customerKey("alice")])
        let replayed = try await views.rebuild(streams: Streams.all)
        XCTAssertEqual(replayed, 7)
        let after = try await views.views(customerId: "alice")
        XCTAssertEqual(after, before)
    }
}

/// A deterministic generator so that a failing shuffle can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
}
