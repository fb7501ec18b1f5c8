import RentalService
import XCTest

@testable import BookDeliveryCLI

/// `bookdelivery load`'s books: as many as Rental registers for the orders it will send.
final class LoadPlanTests: XCTestCase {
    func testTheOrdersGetTwiceTheirCopiesInAsFewBooksAsRentalRegisters() {
        XCTAssertEqual(LoadPlan.copiesOfNewBooks(orders: 10), [1_000], "at least 1,000")
        XCTAssertEqual(LoadPlan.copiesOfNewBooks(orders: 50_000), [100_000])
        XCTAssertEqual(
            LoadPlan.copiesOfNewBooks(orders: 60_000), [60_000, 60_000], "`--rate 1000 --duration 60s`: one book of 120,000 was refused")
        XCTAssertEqual(LoadPlan.copiesOfNewBooks(orders: 300_001), Array(repeating: 85_715, count: 7))
        for orders in [0, 1, 49_999, 50_001, 123_457, 6_000_000] {
            let books = LoadPlan.copiesOfNewBooks(orders: orders)
            XCTAssertTrue(books.allSatisfy(Book.registrableCopies.contains), "\(orders): \(books)")
            XCTAssertGreaterThanOrEqual(books.reduce(0, +), 2 * orders)
        }
    }

    func testOrdersTakeTheBooksInTurnWhateverTheMix() {
        let plan = LoadPlan(gateway: "http://127.0.0.1:1", tokens: ["a", "b"], bookIds: ["b1", "b2", "b3"])
        let mix: [LoadCommand.Action] = [.order, .browse, .view]
        let orders = (0..<9).filter { plan.request($0, of: mix).method == .POST }
        XCTAssertEqual(orders, [0, 3, 6])
        XCTAssertEqual(orders.map { plan.book(ofRequest: $0, of: mix) }, ["b1", "b2", "b3"], "a mix of three, three books: each ordered")
        XCTAssertEqual((0..<4).map { plan.book(ofRequest: $0, of: [.order]) }, ["b1", "b2", "b3", "b1"])
    }
}
