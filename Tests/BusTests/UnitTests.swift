import Foundation
import TestSupport
import XCTest

@testable import Bus

/// Pure logic: no Redis needed.
final class UnitTests: XCTestCase {
    func testEnvelopeRoundTripsThroughFields() throws {
        let envelope = try EventEnvelope(type: "BookRegistered", key: "b-1", payload: ["title": "Dune"], correlationId: "corr")
        let flat = envelope.fields
        let fields = Dictionary(uniqueKeysWithValues: stride(from: 0, to: flat.count, by: 2).map { (flat[$0], flat[$0 + 1]) })
        XCTAssertEqual(try EventEnvelope(fields: fields), envelope)
        XCTAssertEqual(envelope.data, #"{"title":"Dune"}"#)
        XCTAssertEqual(envelope.correlationId, "corr")
        XCTAssertNotNil(envelope.occurredDate)
        XCTAssertEqual(try envelope.payload(as: [String: String].self), ["title": "Dune"])
    }

    func testEnvelopeDecodingRejectsForeignEntries() {
        let valid = ["id": UUID().uuidString, "type": "T", "key": "k", "occurredAt": "2026-01-01T00:00:00.000Z", "data": "{}"]
        XCTAssertNoThrow(try EventEnvelope(fields: valid))
        XCTAssertThrowsError(try EventEnvelope(fields: ["hello": "world"])) { error in
            XCTAssertEqual(error as? EnvelopeDecodingError, .missingField("id"))
        }
        var badId = valid
        badId["id"] = "not-a-uuid"
        XCTAssertThrowsError(try EventEnvelope(fields: badId))
        var badData = valid
        badData["data"] = "[1]"
        XCTAssertThrowsError(try EventEnvelope(fields: badData))
    }

    func testCausedEventsKeepTheCorrelation() throws {
        let cause = try EventEnvelope(type: "RentalOrdered", key: "r-1", payload: ["a": 1])
        let effect = try EventEnvelope(type: "DeliveryScheduled", key: "r-1", payload: ["b": 2], causedBy: cause)
        XCTAssertEqual(effect.correlationId, cause.correlationId)
        XCTAssertEqual(effect.causationId, cause.id)
    }

    func testDeadLetterNames() {
        let name = DeadLetter.stream(for: "rental-events", group: "delivery")
        XCTAssertEqual(name, "rental-events:dead:delivery")
        XCTAssertEqual(DeadLetter.source(of: name)?.stream, "rental-events")
        XCTAssertEqual(DeadLetter.source(of: name)?.group, "delivery")
        XCTAssertNil(DeadLetter.source(of: "rental-events"))
    }

    func testWakeSignalRemembersAWakeWakesAWaiterAndTimesOut() async {
        let signal = WakeSignal()
        signal.wake()
        let remembered = await signal.wait(timeout: .seconds(5))
        XCTAssertEqual(remembered, .woken, "a wake with nobody waiting is kept for the next wait")
        let idle = await signal.wait(timeout: .milliseconds(10))
        XCTAssertEqual(idle, .timedOut, "nobody woke it")

        let waiter = Task { await signal.wait(timeout: .seconds(5)) }
        let waiting = await eventually { signal.waiterCount == 1 }
        XCTAssertTrue(waiting)
        signal.wake()
        let woken = await waiter.value
        XCTAssertEqual(woken, .woken, "a waiting task is woken, not timed out")
        XCTAssertEqual(signal.waiterCount, 0)

        let canceled = Task { await signal.wait(timeout: .seconds(5)) }
        _ = await eventually { signal.waiterCount == 1 }
        canceled.cancel()
        _ = await canceled.value
        XCTAssertEqual(signal.waiterCount, 0, "a cancelled wait leaves nothing behind")
    }
}
