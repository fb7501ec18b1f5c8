import Foundation
import GRDB
import Logging
import Primitives
import Redis
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
        let cause = try EventEnvelope(type: "RentalOrdered", key: "r-1", payload: ["a": 1], requestId: "req-1")
        let effect = try EventEnvelope(type: "DeliveryScheduled", key: "r-1", payload: ["b": 2], causedBy: cause)
        XCTAssertEqual(effect.correlationId, cause.correlationId)
        XCTAssertEqual(effect.causationId, cause.id)
        XCTAssertEqual(effect.requestId, "req-1", "the request that started the flow, carried on")
    }

    func testTheRequestIdTravelsAsAFieldOnlyWhenThereIsOne() throws {
        let with = try EventEnvelope(type: "RentalOrdered", key: "r-1", payload: ["a": 1], requestId: "req-1")
        XCTAssertEqual(Array(with.fields.suffix(2)), ["requestId", "req-1"])
        XCTAssertEqual(try EventEnvelope(fieldList: with.fields), with)
        let without = try EventEnvelope(type: "RentalOrdered", key: "r-1", payload: ["a": 1])
        XCTAssertFalse(without.fields.contains("requestId"), "no empty field on every entry")
        XCTAssertEqual(try EventEnvelope(fieldList: without.fields).requestId, "")
    }

    func testDeadLetterNames() {
        let name = DeadLetter.stream(for: "rental-events", group: "delivery")
        XCTAssertEqual(name, "rental-events:dead:delivery")
        XCTAssertEqual(DeadLetter.source(of: name)?.stream, "rental-events")
        XCTAssertEqual(DeadLetter.source(of: name)?.group, "delivery")
        XCTAssertNil(DeadLetter.source(of: "rental-events"))
    }

    /// ServiceLifecycle names services with "\(service)": a short name, not a reflection of every property.
    func testServicesDescribeThemselvesInAFewWords() throws {
        let client = RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: 1), logger: Logger(label: "test"))
        defer { client.close() }
        let relay = OutboxRelay(
            database: try DatabaseQueue(), outbox: Outbox(), publisher: StreamPublisher(client: client), name: "rental-1",
            logger: Logger(label: "test"))
        XCTAssertEqual("\(relay)", "OutboxRelay(rental-1)")
        let consumer = StreamConsumer(
            configuration: StreamConsumer.Configuration(streams: ["a", "b"], group: "g", consumer: "c"), client: client,
            logger: Logger(label: "test"), handler: { _ in })
        XCTAssertEqual("\(consumer)", "StreamConsumer(g: a,b)")
    }

    /// The outbox's own INSERT stores every field of the event: read back as a record, it is the same event.
    func testAnAppendedEventReadsBackWhole() throws {
        let database = try busDatabase()
        let outbox = Outbox()
        let cause = try EventEnvelope(type: "Cause", key: "k-0", payload: ["n": 0], correlationId: "corr-1")
        let events = [
            OutgoingEvent(stream: "a-events", envelope: try EventEnvelope(type: "First", key: "k-1", payload: ["n": 1], causedBy: cause)),
            OutgoingEvent(stream: "b-events", envelope: try EventEnvelope(type: "Second", key: "k-2", payload: ["title": "Dune"])),
        ]
        try database.write { db in try outbox.append(events, in: db) }
        let records = try database.read { try OutboxRecord.order(Column("sequence")).fetchAll($0) }
        XCTAssertEqual(records.map(\.event), events)
        XCTAssertEqual(records.map(\.sequence), [1, 2])
        XCTAssertEqual(records.map(\.failures), [0, 0])
        XCTAssertTrue(records.allSatisfy { $0.publishedAt == nil && $0.claimedBy == nil && $0.setAsideAt == nil })
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
        let waitingToBeCanceled = await eventually { signal.waiterCount == 1 }
        XCTAssertTrue(waitingToBeCanceled, "the wait to cancel has begun")
        canceled.cancel()
        _ = await canceled.value
        XCTAssertEqual(signal.waiterCount, 0, "a cancelled wait leaves nothing behind")

        // Without a timeout: only a wake or a cancel ends it.
        signal.wake()
        await signal.wait()  // the remembered wake
        let untimed = Task { await signal.wait() }
        let parked = await eventually { signal.waiterCount == 1 }
        XCTAssertTrue(parked, "with nothing remembered, it waits")
        signal.wake()
        await untimed.value
        let stopped = Task { await signal.wait() }
        let waitingToBeStopped = await eventually { signal.waiterCount == 1 }
        XCTAssertTrue(waitingToBeStopped, "the untimed wait to cancel has begun")
        stopped.cancel()
        await stopped.value
        XCTAssertEqual(signal.waiterCount, 0)
    }
}

/// The hand-written time format and ids against Foundation's.
final class TimestampAndIdTests: XCTestCase {
    func testTimestampsMatchFoundationsISO8601BothWays() {
        let foundation = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var generator = SystemRandomNumberGenerator()
        let samples: [Int64] =
            [0, 951_782_400_000, 4_102_444_799_999, 1_709_164_800_123]
            + (0..<2000).map { _ in
                Int64.random(in: 0...253_402_300_799_999, using: &generator)
            }
        for milliseconds in samples {
            // The middle of the millisecond: Foundation truncates the Double, whose ".123" may be ".12299…".
            let date = Date(timeIntervalSince1970: (Double(milliseconds) + 0.5) / 1000)
            let text = Timestamp.string(milliseconds: milliseconds)
            XCTAssertEqual(text, foundation.format(date), "\(milliseconds)")
            XCTAssertEqual(Timestamp.milliseconds(from: text), milliseconds, text)
            XCTAssertEqual(Timestamp.string(from: date), text)
        }
        XCTAssertEqual(Timestamp.milliseconds(from: "2026-11-21T09:05:03Z"), 1_795_251_903_000)
        XCTAssertEqual(Timestamp.milliseconds(from: "2026-11-21T09:05:03.5Z"), 1_795_251_903_500)
        XCTAssertEqual(Timestamp.milliseconds(from: "2026-11-21T09:05:03.123456Z"), 1_795_251_903_123)
        for bad in [
            "", "2026-11-21", "2026-13-01T00:00:00.000Z", "2026-11-21T09:05:03.000", "2026-11-21 09:05:03.000Z", "2026-11-21T09:05:03.Z",
        ] {
            XCTAssertNil(Timestamp.milliseconds(from: bad), bad)
        }
    }

    func testIdsAreVersion7UUIDsInTimeOrder() {
        var previous = ""
        var seen = Set<String>()
        for step in 0..<5000 {
            let id = UUIDv7.string(at: Date(timeIntervalSince1970: 1_795_251_903 + Double(step) / 100))
            let parsed = UUID(uuidString: id)
            XCTAssertNotNil(parsed, id)
            XCTAssertEqual(id, id.lowercased())
            XCTAssertEqual(parsed.map { $0.uuid.6 >> 4 }, 7, "version")
            XCTAssertEqual(parsed.map { $0.uuid.8 >> 6 }, 2, "variant")
            XCTAssertGreaterThan(id, previous, "a later millisecond sorts later")
            previous = id
            XCTAssertTrue(seen.insert(id).inserted)
        }
        XCTAssertTrue(UUIDv7.string(at: Date(timeIntervalSince1970: 1_795_251_903.001)).hasPrefix("01a1fd5a-1a19-7"))
    }
}
