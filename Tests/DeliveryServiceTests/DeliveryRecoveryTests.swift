import Bus
import Contracts
import GRDB
import ServiceKit
import ServiceTestSupport
import XCTest

@testable import DeliveryService

/// A Delivery database restored from a backup catches up from the streams (``StreamRecovery``).
final class DeliveryRecoveryTests: XCTestCase {
    func order(_ rentalId: String) throws -> OutgoingEvent {
        try RentalOrdered(rentalId: rentalId, customerId: "alice", bookId: "book-1", bookTitle: "Dune", address: "1 Main St").outgoing()
    }

    func cancelRequest(_ rentalId: String) throws -> OutgoingEvent {
        try RentalCancelRequested(rentalId: rentalId, customerId: "alice", bookId: "book-1").outgoing()
    }

    /// Every path of Delivery's answers after the backup: scheduled, started, a cancel rejected (an
    /// answer with no change, which the recovery makes again and must drop), a cancel that overtook
    /// its order (a delivery made canceled, its address from the order after), a plain one.
    func testARestoredBackupEndsExactlyAsTheLostDatabaseAndPublishesNothingTwice() async throws {
        let desk = try await StreamDesk()
        try await desk.createGroup(ConsumerGroups.delivery, on: Streams.rental)
        let live = try DeliveryStore.open(path: try temporaryDatabasePath("delivery"))
        let routes = DeliveryEventHandler(store: live).routes
        func step(_ events: [OutgoingEvent]) async throws {
            for event in events { try await desk.add(event) }
            try await desk.deliver(Streams.rental, as: ConsumerGroups.delivery, to: routes)
            try await desk.publish(live.database)
        }
        try await step([try order("r1")])
        let backup = try await StreamDesk.backup(live.database)

        let first = try await live.deliveries(rentalId: "r1")[0]
        _ = try await live.start(id: first.id)
        try await step([try cancelRequest("r1"), try cancelRequest("r2"), try order("r3")])
        try await step([try order("r2")])
        let expected = try await StreamDesk.contents(of: live.database, tables: ["deliveries"])
        let published = try await desk.entriesAdded(Streams.delivery)

        let restored = try DeliveryStore.open(path: backup)
        let report = try await StreamRecovery(
            service: "delivery", routes: restored.recoveryRoutes, database: restored.database, client: desk.client,
            configuration: .init()
        ).run()
        let recovered = try await StreamDesk.contents(of: restored.database, tables: ["deliveries"])
        XCTAssertEqual(recovered, expected, "ids, books, addresses, statuses and times as before the loss")
        XCTAssertEqual(report.ownApplied, 4, "started, rejected, canceled, scheduled")
        XCTAssertEqual(report.answersDropped, 1, "the rejection made again")
        XCTAssertEqual(report.requestsReplayed, 1, "the courier's start")
        try await desk.publish(restored.database)
        let publishedAfter = try await desk.entriesAdded(Streams.delivery)
        XCTAssertEqual(publishedAfter, published, "no answer goes out twice")
    }
}
