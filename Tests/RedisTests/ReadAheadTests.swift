import Logging
import Redis
import TestSupport
import XCTest

/// Reading ahead (``RedisConnection/sendAhead(_:thenRecording:)``), against a real redis-server:
/// the read reaches Redis when it is sent, not when its answer is taken; commands in between get
/// their own replies; an answer not taken is dropped by the next read sent ahead; and one that does
/// not come is a connection problem.
final class ReadAheadTests: XCTestCase {
    private var redis: RedisServer!
    private var client: RedisClient!
    private var observer: RedisClient!

    override func setUp() async throws {
        redis = try await RedisServer()
        client = RedisClient(endpoint: redis.endpoint, logger: Logger(label: "read-ahead-test"))
        observer = RedisClient(endpoint: redis.endpoint, logger: Logger(label: "read-ahead-observer"))
        for stream in ["a", "b"] {
            for number in 1...3 { _ = try await observer.command(["XADD", stream, "\(number)-0", "n", "\(number)"]).orThrow() }
            _ = try await observer.command(["XGROUP", "CREATE", stream, "g", "0"]).orThrow()
        }
    }

    override func tearDown() async throws {
        client.close()
        observer.close()
    }

    private func read(_ count: Int) -> [String] {
        ["XREADGROUP", "GROUP", "g", "c", "COUNT", String(count), "STREAMS", "a", "b", ">", ">"]
    }

    /// How many entries group `g` has handed out and not had acknowledged, on both streams.
    private func pending() async throws -> Int {
        var total = 0
        for stream in ["a", "b"] { total += try await observer.command(["XPENDING", stream, "g"]).orThrow().array?.first?.int ?? 0 }
        return total
    }

    func testTheReadReachesRedisWhenSentAndCommandsInBetweenGetTheirOwnReplies() async throws {
        try await client.sendRead([["SET", "k", "v"]], thenRead: read(2))
        // Nothing has asked for the answer yet, and Redis has already handed out 2 + 2 entries.
        let deadline = ContinuousClock.now + .seconds(10)
        while try await pending() < 4, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let handedOut = try await pending()
        XCTAssertEqual(handedOut, 4, "the read went to Redis when it was sent, before its answer was asked for")

        let value = try await client.command(["GET", "k"])
        XCTAssertEqual(value, .string("v"), "a command after the read sent ahead gets its own reply")
        let (replies, answer) = try await client.receiveRead()
        XCTAssertEqual(replies, [.status("OK")])
        XCTAssertEqual(answer.entryCount, 4, "counted on the tape: 2 of each stream")
        XCTAssertEqual(answer.entries().map { "\($0.stream) \($0.id)" }, ["a 1-0", "a 2-0", "b 1-0", "b 2-0"])

        do {
            _ = try await client.receiveRead()
            XCTFail("an answer was taken twice")
        } catch let error as RedisError {
            XCTAssertTrue(error.isConnectionProblem, "\(error)")
        }
    }

    func testAnAnswerNotTakenIsDroppedByTheNextReadSentAhead() async throws {
        try await client.sendRead([], thenRead: read(1))
        try await client.sendRead([], thenRead: read(1))
        let (_, answer) = try await client.receiveRead()
        XCTAssertEqual(answer.entries().map(\.id), ["2-0", "2-0"], "the second read's answer, after the first's")
        let handedOut = try await pending()
        XCTAssertEqual(handedOut, 4, "the dropped answer's entries stay pending, to be claimed")
    }

    func testAnAnswerThatDoesNotComeIsAConnectionProblemAndTheNextCommandConnectsAnew() async throws {
        var endpoint = redis.endpoint
        endpoint.timeout = .milliseconds(300)
        let impatient = RedisClient(endpoint: endpoint, logger: Logger(label: "read-ahead-impatient"))
        defer { impatient.close() }
        _ = try await impatient.command(["PING"])
        redis.pause()
        try await impatient.sendRead([], thenRead: read(1))  // written to the socket: Redis does not answer
        do {
            let (_, answer) = try await impatient.receiveRead()
            XCTFail("an answer came from a stopped Redis: \(answer.entries())")
        } catch let error as RedisError {
            XCTAssertTrue(error.isConnectionProblem, "\(error)")
        }
        redis.resume()
        do {
            _ = try await impatient.receiveRead()
            XCTFail("the answer was still owed after its connection was closed")
        } catch let error as RedisError {
            XCTAssertTrue(error.isConnectionProblem, "\(error)")
        }
        let pong = try await impatient.command(["PING"])
        XCTAssertEqual(pong, .status("PONG"), "the next command connects anew")
    }
}
