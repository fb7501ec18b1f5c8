import Bus
import Contracts
import Foundation
import HummingbirdTesting
import Primitives
import Redis
import ServiceKit
import ServiceTestSupport
import TestSupport
import XCTest

@testable import LookupService

/// Lookup's views in a real Redis: duplicates and any arrival order converge; a rebuild from the
/// streams gives the same views.
final class LookupServiceTests: XCTestCase {
    var redis: RedisServer!
    var views: RentalViewStore!

    override func setUp() async throws {
        redis = try await RedisServer()
        views = RentalViewStore(pool: RedisClientPool(endpoint: redis.endpoint, size: 2, logger: .test("lookup")))
    }

    /// Applies events one by one, each as a batch of its own, as a consumer may.
    private func apply(_ events: EventEnvelope...) async throws {
        for event in events {
            if let error = await views.apply([event]).first ?? nil { throw error }
        }
    }

    override func tearDown() async throws {
        views = nil
        redis = nil  // XCTest keeps test-case instances to the end: stop the server now
    }

    /// The events of one rental's happy path, the order placed `orderedAt`.
    private func lifecycle(rentalId: String, customerId: String = "alice", orderedAt: Date = Date()) throws -> [EventEnvelope] {
        let facts = DeliveryFacts(deliveryId: "d-\(rentalId)", rentalId: rentalId, customerId: customerId)
        return try [
            RentalOrdered(rentalId: rentalId, customerId: customerId, bookId: "b-1", bookTitle: "Dune", address: "x").outgoing(),
            DeliveryScheduled(facts: facts).outgoing(),
            DeliveryStarted(facts: facts).outgoing(),
            DeliveryCompleted(facts: facts).outgoing(),
            RentalReturned(rentalId: rentalId, customerId: customerId, bookId: "b-1").outgoing(),
        ].enumerated().map { index, event in
            var envelope = event.envelope
            envelope.occurredAt = Timestamp.string(from: orderedAt.addingTimeInterval(Double(index)))
            return envelope
        }
    }

    func testEveryArrivalOrderAndDuplicatesConvergeToTheSameView() async throws {
        let events = try lifecycle(rentalId: "r-ordered")
        for event in events { try await apply(event) }
        let expected = try await views.view(rentalId: "r-ordered")
        XCTAssertEqual(expected?.status, .returned)
        XCTAssertEqual(expected?.deliveryStatus, .delivered)
        XCTAssertEqual(expected?.bookTitle, "Dune")

        for round in 0..<10 {
            let rentalId = "r-shuffled-\(round)"
            var generator = SeededGenerator(seed: UInt64(round + 1))
            let shuffled = try (lifecycle(rentalId: rentalId) + lifecycle(rentalId: rentalId)).shuffled(using: &generator)
            for event in shuffled { try await apply(event) }
            let view = try await views.view(rentalId: rentalId)
            XCTAssertEqual(view?.status, expected?.status, "round \(round)")
            XCTAssertEqual(view?.deliveryStatus, expected?.deliveryStatus, "round \(round)")
            XCTAssertEqual(view?.bookTitle, "Dune", "round \(round)")
        }
    }

    /// The gateway's live pages follow `lookup:changes`: one entry per change of a view's statuses,
    /// none for an event that changes nothing (a duplicate, or one that arrives late).
    func testEachChangeOfAViewIsAnnouncedOnceOnTheChangesStream() async throws {
        let events = try lifecycle(rentalId: "r-live", customerId: "carol")
        try await apply(events[0], events[1])
        let client = RedisClient(endpoint: redis.endpoint, logger: .test("changes"))
        defer { client.close() }
        var changes = try await client.range(of: Streams.lookupChanges, count: 100)
        XCTAssertEqual(changes.count, 2, "ordered, then scheduled")
        XCTAssertEqual(changes.last?.fields?["rentalId"], "r-live")
        XCTAssertEqual(changes.last?.fields?["customerId"], "carol")
        try await apply(events[1], events[0])
        changes = try await client.range(of: Streams.lookupChanges, count: 100)
        XCTAssertEqual(changes.count, 2, "a duplicate and a late order change nothing, so announce nothing")
        try await apply(events[2])
        changes = try await client.range(of: Streams.lookupChanges, count: 100)
        XCTAssertEqual(changes.count, 3, "the delivery started")
    }

    func testCancelOvertakingTheOrderEndsCanceled() async throws {
        let facts = DeliveryFacts(deliveryId: "d", rentalId: "r-1", customerId: "alice")
        try await apply(try DeliveryCanceled(facts: facts).outgoing().envelope)
        try await apply(try RentalCancelRequested(rentalId: "r-1", customerId: "alice", bookId: "b").outgoing().envelope)
        try await apply(
            try RentalOrdered(rentalId: "r-1", customerId: "alice", bookId: "b", bookTitle: "Dune", address: "x").outgoing().envelope)
        let view = try await views.view(rentalId: "r-1")
        XCTAssertEqual(view?.status, .canceled)
        XCTAssertEqual(view?.deliveryStatus, .canceled)
    }

    func testHTTPServesACustomersRentalsAndRebuildGivesTheSameViews() async throws {
        let publisher = StreamPublisher(client: RedisClient(endpoint: redis.endpoint, logger: .test("p")))
        defer { publisher.client.close() }
        let first = UUID().uuidString.lowercased()
        let second = UUID().uuidString.lowercased()
        let start = Date()
        try await apply(try lifecycle(rentalId: UUID().uuidString.lowercased(), customerId: "alice smith")[0])
        for (index, rentalId) in [first, second].enumerated() {
            // Distinct order times a minute apart: the list is ordered by them.
            let events = try lifecycle(rentalId: rentalId, orderedAt: start.addingTimeInterval(60 * Double(index))).prefix(
                index == 0 ? 5 : 2)
            try await publisher.publish(
                events.map { OutgoingEvent(stream: $0.type.hasPrefix("Rental") ? Streams.rental : Streams.delivery, envelope: $0) })
            for event in events { try await apply(event) }
        }
        try await withClient(LookupApplication.buildRouter(views: views, wiring: ServiceWiring(authentication: .disabled))) { client in
            let list = try await client.call(.get, "/customers/alice/rentals", as: [RentalViewResponse].self)
            XCTAssertEqual(list.map(\.rentalId), [second, first], "newest order first")
            XCTAssertEqual(list.first?.deliveryStatus, "ready")
            XCTAssertEqual(list.first?.bookTitle, "Dune")
            let view = try await client.call(.get, "/rentals/\(first)", as: RentalViewResponse.self)
            XCTAssertEqual(view.status, .returned)
            let nobodys = try await client.call(.get, "/customers/nobody/rentals", as: [RentalViewResponse].self)
            XCTAssertEqual(nobodys, [])
            let spaced = try await client.call(.get, "/customers/alice%20smith/rentals", as: [RentalViewResponse].self)
            XCTAssertEqual(spaced.map(\.customerId), ["alice smith"], "percent-encoded path segments are decoded")
            try await client.expectError(.get, "/rentals/\(UUID())", status: .notFound)
            try await client.expectError(.get, "/rentals/x", status: .badRequest)
        }

        let before = try await views.views(customerId: "alice", page: PageRequest(limit: 500)).map(\.view)
        _ = try redis.command(["DEL", RentalViewStore.rentalKey(first), RentalViewStore.customerKey("alice")])
        let report = try await views.rebuild(streams: Streams.all)
        XCTAssertEqual([report.events, report.rebuilt, report.kept], [7, 2, 1], "alice smith's order was never on a stream: kept")
        XCTAssertNotNil(report.readFrom[Streams.rental] ?? nil, "says how far back it read")
        let after = try await views.views(customerId: "alice", page: PageRequest(limit: 500)).map(\.view)
        XCTAssertEqual(after, before)
    }

    func testRebuildKeepsAViewWhoseOrderWasTrimmedFromTheStreams() async throws {
        let publisher = StreamPublisher(client: RedisClient(endpoint: redis.endpoint, logger: .test("p")))
        defer { publisher.client.close() }
        let (old, new) = (UUID().uuidString.lowercased(), UUID().uuidString.lowercased())
        for rentalId in [old, new] {
            let events = try lifecycle(rentalId: rentalId).prefix(3)
            try await publisher.publish(
                events.map { OutgoingEvent(stream: $0.type.hasPrefix("Rental") ? Streams.rental : Streams.delivery, envelope: $0) })
            for event in events { try await apply(event) }
        }
        let oldView = try await views.view(rentalId: old)
        // The old order is gone from the stream (trimmed); its later events are still there.
        let orders = try redis.command(["XRANGE", Streams.rental, "-", "+"]).array ?? []
        let oldOrder = try XCTUnwrap(orders.first { $0.array?[1].hash["key"] == old }?.array?.first?.string)
        _ = try redis.command(["XDEL", Streams.rental, oldOrder])

        let report = try await views.rebuild(streams: Streams.all)
        XCTAssertEqual([report.rebuilt, report.kept], [1, 1])
        XCTAssertTrue(report.summary.contains("kept 1 views"), report.summary)
        let kept = try await views.view(rentalId: old)
        XCTAssertEqual(kept, oldView, "the view that cannot be rebuilt is kept as it was, book title and all")
        let customers = try await views.views(customerId: "alice", page: PageRequest(limit: 500)).map(\.view)
        XCTAssertEqual(Set(customers.map(\.rentalId)), [old, new])
    }
}

/// A deterministic generator so that a failing shuffle can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }
}

extension LookupServiceTests {
    func testACustomersViewsComeAPageAtATimeInOrderEvenWithTiedOrderTimes() async throws {
        let sameMoment = Date()
        for index in 0..<5 {
            // Three orders share one moment (one score); the cursor must not skip or repeat them.
            let orderedAt = index < 3 ? sameMoment : sameMoment.addingTimeInterval(Double(index) * 10)
            try await apply(try lifecycle(rentalId: "r-\(index)", orderedAt: orderedAt)[0])
        }
        try await withClient(LookupApplication.buildRouter(views: views, wiring: ServiceWiring(authentication: .disabled))) { client in
            var seen: [String] = []
            var next: String? = "/customers/alice/rentals?limit=2"
            var pages = 0
            while let uri = next {
                let response = try await client.execute(uri: uri, method: .get)
                XCTAssertEqual(response.status, .ok)
                let page = try JSONDecoder().decode([RentalViewResponse].self, from: Data(response.body.readableBytesView))
                XCTAssertLessThanOrEqual(page.count, 2)
                seen += page.map(\.rentalId)
                next = response.headers[.link].flatMap { link in
                    link.split(separator: ";").first.map { String($0.dropFirst().dropLast()) }
                }
                pages += 1
                guard pages < 10 else { return XCTFail("the pages never end") }
            }
            XCTAssertEqual(pages, 3)
            XCTAssertEqual(seen, ["r-4", "r-3", "r-2", "r-1", "r-0"], "newest first, ties by id, each once")
            try await client.expectError(.get, "/customers/alice/rentals?limit=501", status: .badRequest)
            try await client.expectError(.get, "/customers/alice/rentals?cursor=%%%", status: .badRequest)
        }
    }
}
