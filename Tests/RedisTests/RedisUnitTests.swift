import XCTest

@testable import Redis

/// Pure logic: no Redis needed.
final class RedisUnitTests: XCTestCase {
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

    func testBackoffDoublesUpToTheMaximum() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        XCTAssertEqual(
            (1...6).map { backoff.delay(attempt: $0) },
            [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        XCTAssertEqual(backoff.delay(attempt: 1000), .seconds(1))
        XCTAssertEqual(Duration.milliseconds(1500).milliseconds, 1500)
        XCTAssertEqual(Duration.microseconds(999).milliseconds, 0)
    }

    func testStreamEntryParsing() {
        let reply = RedisReply.array([
            .array([
                .string("s"),
                .array([
                    .array([.string("1-0"), .array([.string("a"), .string("1"), .string("b"), .string("2")])]),
                    .array([.string("2-0"), .null]),
                ]),
            ])
        ])
        XCTAssertEqual(
            StreamEntry.parseRead(reply),
            [StreamEntry(stream: "s", id: "1-0", fields: ["a": "1", "b": "2"]), StreamEntry(stream: "s", id: "2-0", fields: nil)])
        XCTAssertEqual(StreamEntry.parseRead(.null), [])
    }

    func testFieldValueRepliesAndPendingLines() {
        let flat = RedisReply.array([.string("name"), .string("g"), .string("lag"), .integer(3), .string("dangling")])
        XCTAssertEqual(flat.hash, ["name": "g", "lag": "3"])
        XCTAssertEqual(flat.pairs["lag"]?.int, 3)
        XCTAssertEqual(RedisReply.array([.string("a"), .integer(1), .null]).strings, ["a", "1"])
        let pending = RedisReply.array([
            .array([.string("1-0"), .string("c1"), .integer(12), .integer(3)]),
            .array([.string("broken")]),
        ])
        XCTAssertEqual(PendingEntry.parseList(pending), [PendingEntry(id: "1-0", consumer: "c1", attempts: 3)])
    }
}

final class StreamIDTests: XCTestCase {
    func testIdsParseAndOrderAsNumbers() {
        XCTAssertEqual(StreamID("1700000000000-5"), StreamID(milliseconds: 1_700_000_000_000, sequence: 5))
        XCTAssertEqual(StreamID("42"), StreamID(milliseconds: 42))
        XCTAssertLessThan(StreamID("9-0")!, StreamID("10-0")!, "as numbers, not text")
        XCTAssertLessThan(StreamID("10-2")!, StreamID("10-10")!)
        for bad in ["", "-", "1-", "-1", "1-2-3", "a-1", "1-b", "99999999999999999999-0"] {
            XCTAssertNil(StreamID(bad), bad)
        }
        XCTAssertEqual(StreamID("5-7")?.description, "5-7")
    }
}

/// The protocol bytes the connection writes for a pipeline.
final class ProtocolBytesTests: XCTestCase {
    func testCommandsAreLaidOutInRESPBinarySafe() {
        let bytes = RedisConnection.protocolBytes([
            ["SET", "k", ""], ["XADD", "s", "*", "data", "é\r\n{}" + String(repeating: "x", count: 120)],
        ])
        let expected =
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
            + "*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$4\r\ndata\r\n$126\r\né\r\n{}" + String(repeating: "x", count: 120) + "\r\n"
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), expected)
    }

    /// Counts and lengths at the powers of ten, where a digit is added.
    func testCountsAndLengthsOfEveryWidth() {
        let ten = (0..<10).map { String(repeating: "a", count: [9, 10, 99, 100, 0, 1, 999, 1000, 5, 10_000][$0]) }
        let bytes = RedisConnection.protocolBytes([ten])
        let expected = "*10\r\n" + ten.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), expected)
    }
}
