import Contracts
import DeliveryService
import Foundation
import LookupService
import RentalService
import TestSupport
import XCTest

/// A customer's cancel against a courier's start: whichever reaches Delivery first wins, and every
/// service ends up telling the same story.
final class CancelRaceTests: XCTestCase {
    func testCancelAgainstStartEndsTheSameEverywhere() async throws {
        let cluster = try await ServiceCluster.start()
        let copies = 30
        let book: BookResponse = try await cluster.fetch(
            "rental", "POST", "/books", body: ["title": "Dune", "author": "Herbert", "copies": copies])
        var pairs: [(rental: String, delivery: String)] = []
        for _ in 0..<copies {
            let rental: RentalResponse = try await cluster.fetch(
                "rental", "POST", "/rentals", body: ["customerId": "alice", "bookId": book.id, "address": "1 Main St"])
            var delivery: DeliveryResponse?
            _ = await eventually {
                delivery = try? await cluster.fetch("delivery", "/deliveries?rentalId=\(rental.id)", as: [DeliveryResponse].self).first
                return delivery != nil
            }
            pairs.append((rental.id, try XCTUnwrap(delivery?.id)))
        }

        // A third starts first, a third cancels first (and waits for Delivery to cancel), a third
        // fires both at once.
        await withTaskGroup(of: Void.self) { group in
            for (index, pair) in pairs.enumerated() {
                group.addTask {
                    let start = {
                        _ = try? await cluster.request("delivery", "POST", "/deliveries/\(pair.delivery)/start", as: ErrorBody?.self)
                    }
                    let cancel = { _ = try? await cluster.request("rental", "POST", "/rentals/\(pair.rental)/cancel", as: ErrorBody?.self) }
                    switch index % 3 {
                    case 0:
                        await start()
                        await cancel()
                    case 1:
                        await cancel()
                        _ = await eventually {
                            (try? await cluster.fetch("delivery", "/deliveries/\(pair.delivery)", as: DeliveryResponse.self))?.status
                                == .canceled
                        }
                        await start()
                    default:
                        async let started: Void = start()
                        async let canceled: Void = cancel()
                        _ = await (started, canceled)
                    }
                }
            }
        }

        // Each rental settles on one outcome, the same in Rental, Delivery and Lookup.
        var outcomes: [Int: RentalStatus] = [:]
        for (index, pair) in pairs.enumerated() {
            var story = ""
            let settled = await eventually {
                let rental = try? await cluster.fetch("rental", "/rentals/\(pair.rental)", as: RentalResponse.self)
                let delivery = try? await cluster.fetch("delivery", "/deliveries/\(pair.delivery)", as: DeliveryResponse.self)
                let view = try? await cluster.fetch("lookup", "/rentals/\(pair.rental)", as: RentalViewResponse.self)
                story =
                    "rental \(rental?.status.rawValue ?? "?"), delivery \(delivery?.status.rawValue ?? "?"), lookup \(view?.status.rawValue ?? "?")/\(view?.deliveryStatus ?? "?")"
                guard let status = rental?.status, [.canceled, .delivering].contains(status), let settledAs = status.settledDeliveryStatus
                else { return false }
                outcomes[index] = status
                return delivery?.status == settledAs && view?.status == status && view?.deliveryStatus == settledAs.rawValue
            }
            XCTAssertTrue(settled, "pair \(index): \(story)")
        }
        XCTAssertEqual(
            outcomes.filter { $0.key % 3 == 0 }.values.filter { $0 != .delivering }.count, 0, "started first: the cancel is refused")
        XCTAssertEqual(
            outcomes.filter { $0.key % 3 == 1 }.values.filter { $0 != .canceled }.count, 0, "canceled first: the start is refused")
        let canceled = outcomes.values.filter { $0 == .canceled }.count
        let after: BookResponse = try await cluster.fetch("rental", "/books/\(book.id)")
        XCTAssertEqual(after.available, canceled, "each canceled rental gave its copy back exactly once")
    }
}
