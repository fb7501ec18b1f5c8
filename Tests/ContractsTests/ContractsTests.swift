import Contracts
import Foundation
import XCTest

/// The saga's rules, written once in Contracts, hold as the services rely on them.
final class ContractsTests: XCTestCase {
    func testStatusesAreDeclaredInLifecycleOrder() {
        XCTAssertEqual(RentalStatus.allCases.map(\.rank), Array(1...RentalStatus.allCases.count))
        XCTAssertEqual(DeliveryStatus.allCases.map(\.rank), Array(1...DeliveryStatus.allCases.count))
        XCTAssertEqual(RentalStatus.allCases.sorted(), RentalStatus.allCases)
        XCTAssertEqual(RentalStatus.allCases.last, .canceled, "canceled is terminal: nothing may overwrite it")
        XCTAssertLessThan(RentalStatus.cancelRequested, .delivering, "a rejected cancel moves on to delivering")
        XCTAssertEqual(DeliveryStatus.allCases.last, .canceled)
    }

    func testEachDeliveryEventLeadsWhereTheSagaSays() {
        XCTAssertEqual(DeliveryStarted.rentalStatus, .delivering)
        XCTAssertEqual(DeliveryStarted.deliveryStatus, .started)
        XCTAssertEqual(DeliveryCompleted.rentalStatus, .delivered)
        XCTAssertEqual(DeliveryCanceled.rentalStatus, .canceled)
        XCTAssertEqual(DeliveryCancelRejected.rentalStatus, .delivering)
        XCTAssertNil(DeliveryCancelRejected.deliveryStatus, "a rejected cancel leaves the delivery as it is")
        XCTAssertNil(DeliveryScheduled.rentalStatus)
        XCTAssertEqual(DeliveryScheduled.deliveryStatus, .ready)
        // Every delivery outcome the rental follows lands it where its delivery settles.
        for event in EventCatalog.sagaEvents {
            guard let rental = event.rentalStatus, let delivery = event.deliveryStatus, event.stream == Streams.delivery else { continue }
            XCTAssertEqual(rental.settledDeliveryStatus, delivery, event.type)
        }
    }

    func testTheContractDocumentCarriesTheRulesAsJSON() throws {
        let document = ContractDocument(alertTypes: ["BookRegistered"])
        let json = try JSONEncoder().encode(document)
        let decoded = try JSONDecoder().decode(ContractDocument.self, from: json)
        XCTAssertEqual(decoded, document)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any])
        XCTAssertEqual(
            object["rentalStatuses"] as? [String], ["ordered", "cancel_requested", "delivering", "delivered", "returned", "canceled"])
        XCTAssertEqual((object["settledDeliveryStatus"] as? [String: String])?["returned"], "delivered")
        XCTAssertNil((object["settledDeliveryStatus"] as? [String: String])?["cancel_requested"])
        XCTAssertEqual(object["copyHoldingStatuses"] as? [String], ["ordered", "cancel_requested", "delivering", "delivered"])
        XCTAssertEqual(document.groups[Streams.rental], ["delivery", "lookup", "notifier"])
        XCTAssertEqual(document.groups[Streams.delivery], ["lookup", "notifier", "rental"])
        XCTAssertEqual(Set(document.events.map(\.type)).count, 9, "every event type once")
        XCTAssertEqual(EventCatalog.sagaEvent(ofType: "DeliveryStarted")?.type, "DeliveryStarted")
        XCTAssertNil(EventCatalog.sagaEvent(ofType: "BookRegistered"), "not a saga event")
    }
}
