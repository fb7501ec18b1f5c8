@testable import Bus
import XCTest

/// Pure logic: no Redis needed.
final class UnitTests: XCTestCase {
    func testEndpointParsing() throws {
        let plain = try RedisEndpoint(url: "redis://localhost:6390")
        XCTAssertEqual(plain.host, "localhost")
        XCTAssertEqual(plain.port, 6390)
        XCTAssertNil(plain.password)

        let full = try RedisEndpoint(url: "redis://app:s3cret@10.0.0.1:7000/2")
        XCTAssertEqual(full.username, "app")
        XCTAssertEqual(full.password, "s3cret")
        XCTAssertEqual(full.database, 2)
        XCTAssertEqual(full.description, "redis://app:***@10.0.0.1:7000/2", "passwords never reach logs")

        XCTAssertEqual(try RedisEndpoint(url: "redis://h").port, 6379)
        XCTAssertThrowsError(try RedisEndpoint(url: "http://h:1"))
        XCTAssertThrowsError(try RedisEndpoint(url: "redis://h:1/x"))
    }

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

    func testBackoffDoublesUpToTheMaximum() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        XCTAssertEqual((1...6).map { backoff.delay(attempt: $0) }, [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1),
        ])
        XCTAssertEqual(backoff.delay(attempt: 1000), .seconds(1))
        XCTAssertEqual(Duration.milliseconds(1500).milliseconds, 1500)
        XCTAssertEqual(Duration.microseconds(999).milliseconds, 0)
    }

    func testStreamEntryParsing() {
        let reply = RedisReply.array([
            .array([.string("s"), .array([
                .array([.string("1-0"), .array([.string("a"), .string("1"), .string("b"), .string("2")])]),
                .array([.string("2-0"), .null]),
            ])]),
        ])
        let entries = StreamEntry.parseRead(reply)
        XCTAssertEqual(entries, [
            StreamEntry(stream: "s", id: "1-0", fields: ["a": "1", "b": "2"]),
            StreamEntry(stream: "s", id: "2-0", fields: nil),
        ])
        XCTAssertEqual(StreamEntry.parseRead(.null), [])
    }

    func testDeadLetterNames() {
        let name = DeadLetter.stream(for: "rental-events", group: "delivery")
        XCTAssertEqual(name, "rental-events:dead:delivery")
        XCTAssertEqual(DeadLetter.source(of: name)?.stream, "rental-events")
        XCTAssertEqual(DeadLetter.source(of: name)?.group, "delivery")
        XCTAssertNil(DeadLetter.source(of: "rental-events"))
    }

    func testWakeSignalRemembersAWakeAndTimesOut() async {
        let signal = WakeSignal()
        signal.wake()
        let start = ContinuousClock.now
        await signal.wait(timeout: .seconds(60))  // returns at once: the wake was remembered
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(30))
        await signal.wait(timeout: .milliseconds(10))  // returns after its timeout with nobody waking it
        let waiter = Task { await signal.wait(timeout: .seconds(60)) }
        try? await Task.sleep(for: .milliseconds(50))
        signal.wake()
        await waiter.value
    }
}
