import Bus
import Contracts
import GRDB
import ServiceKit
import ServiceTestSupport
import XCTest

@testable import RentalService

/// A Rental database restored from a backup catches up from the streams (``StreamRecovery``).
final class RentalRecoveryTests: XCTestCase {
    let tables = ["books", "rentals"]

    func news<Event: DeliveryEvent>(_: Event.Type, _ rental: Rental) throws -> OutgoingEvent {
        try Event(facts: DeliveryFacts(deliveryId: "delivery-\(rental.id)", rentalId: rental.id, customerId: rental.customerId)).outgoing()
    }

    func recover(_ store: RentalStore, _ desk: StreamDesk, acceptLoss: Bool = false) async throws -> RecoveryReport {
        try await StreamRecovery(
            service: "rental", routes: store.recoveryRoutes, database: store.database, client: desk.client,
            configuration: .init(acceptLoss: acceptLoss)
        ).run()
    }

    /// The case a replay in the wrong order gets wrong: one copy, ordered, canceled by Delivery,
    /// ordered again. Replaying Rental's own events first (both orders) and Delivery's after would
    /// take the copy twice; the recovery counts copies once at the end instead.
    func testARestoredBackupEndsExactlyAsTheLostDatabase() async throws {
        let desk = try await StreamDesk()
        try await desk.createGroup(ConsumerGroups.rental, on: Streams.delivery)
        let live = try RentalStore.open(path: try temporaryDatabasePath("rental"))
        let routes = RentalEventHandler(store: live).routes
        let scarce = try await live.registerBook(title: "Dune", author: "Herbert", copies: 1)
        let first = try await live.order(customerId: "alice", bookId: scarce.id, address: "1 Main St")
        try await desk.publish(live.database)
        let backup = try await StreamDesk.backup(live.database)

        // After the backup: a cancel answered by Delivery, the copy ordered again, a new book
        // delivered and returned.
        _ = try await live.requestCancel(id: first.id)
        try await desk.add(try news(DeliveryCanceled.self, first))
        try await desk.deliver(Streams.delivery, as: ConsumerGroups.rental, to: routes)
        let second = try await live.order(customerId: "bob", bookId: scarce.id, address: "2 Main St")
        let other = try await live.registerBook(title: "Emma", author: "Austen", copies: 3)
        let third = try await live.order(customerId: "carol", bookId: other.id, address: "3 Main St")
        _ = try await live.order(customerId: "dave", bookId: other.id, address: "4 Main St")  // holds a copy still
        try await desk.add(try news(DeliveryStarted.self, third))
        try await desk.add(try news(DeliveryCompleted.self, third))
        try await desk.add(try news(DeliveryStarted.self, second))
        try await desk.deliver(Streams.delivery, as: ConsumerGroups.rental, to: routes)
        _ = try await live.returnRental(id: third.id)
        try await desk.publish(live.database)
        let expected = try await StreamDesk.contents(of: live.database, tables: tables)

        let restored = try RentalStore.open(path: backup)
        let behind = try await StreamDesk.contents(of: restored.database, tables: tables)
        XCTAssertNotEqual(behind, expected)
        let report = try await recover(restored, desk)
        let recovered = try await StreamDesk.contents(of: restored.database, tables: tables)
        XCTAssertEqual(recovered, expected, "ids, statuses, copies and times as before the loss")
        XCTAssertEqual(report.ownApplied, 6, "cancel, order, book, two orders, return")
        XCTAssertEqual(report.consumedApplied[Streams.delivery], 4)
        XCTAssertEqual(report.requestsReplayed, 6)
        XCTAssertTrue(report.losses.isEmpty)
        let unpublished = try await restored.database.read {
            try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox WHERE publishedAt IS NULL")
        }
        XCTAssertEqual(unpublished, 0, "nothing to publish again")

        let again = try await recover(restored, desk)
        XCTAssertFalse(again.recovered, "a second start finds nothing to catch up")
        XCTAssertEqual(again.entriesRead, 0)
    }

    func testAStreamTrimmedPastTheBackupRefusesToStartUnlessTheLossIsAccepted() async throws {
        let desk = try await StreamDesk()
        try await desk.createGroup(ConsumerGroups.rental, on: Streams.delivery)
        let live = try RentalStore.open(path: try temporaryDatabasePath("rental"))
        let book = try await live.registerBook(title: "Dune", author: "Herbert", copies: 5)
        try await desk.publish(live.database)
        let backup = try await StreamDesk.backup(live.database)
        for customer in ["alice", "bob", "carol"] { _ = try await live.order(customerId: customer, bookId: book.id, address: "x") }
        try await desk.publish(live.database)
        try await desk.client.command(["XTRIM", Streams.rental, "MAXLEN", "1"]).orThrow()  // as retention would, days later

        let restored = try RentalStore.open(path: backup)
        do {
            _ = try await recover(restored, desk)
            XCTFail("started on a backup the stream no longer reaches back to")
        } catch RecoveryError.historyGone(let losses) {
            XCTAssertEqual(losses.count, 1)
            XCTAssertTrue(losses[0].contains("at most 3"), losses[0])
        }
        let untouched = try await restored.database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM rentals") }
        XCTAssertEqual(untouched, 0, "a refused recovery changes nothing")

        let report = try await recover(restored, desk, acceptLoss: true)
        XCTAssertEqual(report.losses.count, 1)
        XCTAssertTrue(report.warnings.contains { $0.hasPrefix("history lost: ") })
        XCTAssertEqual(report.ownApplied, 1, "what the stream still holds is applied")
        let available = try await restored.book(id: book.id).available
        XCTAssertEqual(available, 4)
    }

    /// A database in use before the marks existed (upgraded to `bus-v5`), its outbox pruned, the
    /// stream trimmed: its first start takes it as current, marks it, and applies nothing.
    func testADatabaseFromBeforeTheMarksIsTakenAsCurrentOnce() async throws {
        let desk = try await StreamDesk()
        try await desk.createGroup(ConsumerGroups.rental, on: Streams.delivery)
        let live = try RentalStore.open(path: try temporaryDatabasePath("rental"))
        let book = try await live.registerBook(title: "Dune", author: "Herbert", copies: 5)
        let rental = try await live.order(customerId: "alice", bookId: book.id, address: "x")
        try await desk.publish(live.database)
        try await desk.add(try news(DeliveryStarted.self, rental))
        try await desk.deliver(Streams.delivery, as: ConsumerGroups.rental, to: RentalEventHandler(store: live).routes)
        for customer in ["bob", "carol"] { _ = try await live.order(customerId: customer, bookId: book.id, address: "y") }
        try await desk.publish(live.database)
        try await desk.client.command(["XTRIM", Streams.rental, "MAXLEN", "1"]).orThrow()
        // As an older build left it: no positions, published rows pruned, and the migration's mark.
        try await live.database.write { db in
            try db.execute(sql: "DELETE FROM consumer_positions; DELETE FROM outbox; INSERT INTO recovery_baseline VALUES (0)")
        }
        let before = try await StreamDesk.contents(of: live.database, tables: tables)

        let first = try await recover(live, desk)
        XCTAssertFalse(first.recovered)
        XCTAssertTrue(first.losses.isEmpty, "\(first.losses)")
        let after = try await StreamDesk.contents(of: live.database, tables: tables)
        XCTAssertEqual(after, before)
        let again = try await recover(live, desk)
        XCTAssertEqual(again.entriesRead, 0, "marked where the stream and the group were")
    }
}
