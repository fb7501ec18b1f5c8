import Redis
import TestSupport
import XCTest

/// Every kind of reply read through the connection's reply tape, against a real redis-server.
final class ReplyTapeTests: XCTestCase {
    private var redis: RedisServer!

    override func setUp() async throws {
        redis = try await RedisServer()
    }

    override func tearDown() async throws {
        redis = nil
    }

    func testEveryKindOfReplyDecodes() throws {
        let connection = try RedisConnection(endpoint: redis.endpoint)
        let binary = "line one\r\nline two, ünïcode ✓, and a NUL-free tail"
        let replies = try connection.pipeline([
            ["SET", "text", binary],
            ["GET", "text"],
            ["GET", "missing"],
            ["INCRBY", "counter", "-42"],
            ["HSET", "hash", "a", "1"],
            ["LRANGE", "no-list", "0", "-1"],
            ["BLPOP", "no-list", "0.01"],
            ["NO-SUCH-COMMAND"],
            ["RPUSH", "list", "x", "", "z"],
            ["LRANGE", "list", "0", "-1"],
            ["PING"],
        ])
        XCTAssertEqual(
            replies,
            [
                .status("OK"), .string(binary), .null, .integer(-42), .integer(1), .array([]), .null,
                .error("ERR unknown command 'NO-SUCH-COMMAND', with args beginning with: "), .integer(3),
                .array([.string("x"), .string(""), .string("z")]), .status("PONG"),
            ])
        // Nested arrays, and the connection still in step afterwards.
        XCTAssertEqual(try connection.command(["XADD", "s", "1-1", "f", "v"]), .string("1-1"))
        XCTAssertEqual(
            try connection.command(["XRANGE", "s", "-", "+"]), .array([.array([.string("1-1"), .array([.string("f"), .string("v")])])]))
        XCTAssertEqual(try connection.command(["ECHO", "after"]), .string("after"))
    }

    /// A read's entries straight off the tape equal the general decoding's, for a reply far larger
    /// than one socket read (hiredis gets it in pieces) and with a deleted pending entry.
    func testReadEntriesMatchTheGeneralDecoding() throws {
        let connection = try RedisConnection(endpoint: redis.endpoint)
        let count = 3_000
        let adds = (0..<count).map { ["XADD", "s", "*", "id", "entry-\($0)", "data", String(repeating: "é", count: $0 % 40)] }
        _ = try connection.pipeline(adds)
        try connection.command(["XGROUP", "CREATE", "s", "g", "0"]).orThrow()
        let read = ["XREADGROUP", "GROUP", "g", "c", "COUNT", String(count), "STREAMS", "s", ">"]
        let (replies, entries) = try connection.pipeline([["PING"]], thenRead: read)
        XCTAssertEqual(replies, [.status("PONG")])
        XCTAssertEqual(entries.count, count)
        XCTAssertEqual(entries.map { $0.value(of: "id") }, (0..<count).map { "entry-\($0)" })
        XCTAssertEqual(entries[39].fieldList, ["id", "entry-39", "data", String(repeating: "é", count: 39)])

        // The same pending entries read again, through both paths, after one was deleted.
        try connection.command(["XDEL", "s", entries[1].id]).orThrow()
        let again = ["XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", "0"]
        let general = StreamEntry.parseRead(try connection.command(again))
        let straight = try connection.pipeline([], thenRead: again).entries
        XCTAssertEqual(straight, general)
        XCTAssertEqual(straight.map(\.fieldList?.count), [4, nil, 4], "the deleted entry has no fields")

        // Nothing new: the null of a read that finds nothing.
        XCTAssertEqual(try connection.pipeline([], thenRead: read).entries, [])
        // An error answer to the read is thrown; the connection stays usable.
        XCTAssertThrowsError(try connection.pipeline([], thenRead: ["XREADGROUP", "GROUP", "nogroup", "c", "STREAMS", "s", ">"])) {
            guard case RedisError.server(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.hasPrefix("NOGROUP"), message)
        }
        XCTAssertEqual(try connection.command(["PING"]), .status("PONG"))
    }
}
