import Bus
import Foundation
import GRDB
import Logging
import Redis
import TestSupport
import XCTest

/// Collects what a handler saw, safely across tasks.
actor Seen {
    private(set) var eventIds: [String] = []
    private(set) var entries: [ReceivedEvent] = []
    private var byConsumer: [String: Int] = [:]

    func add(_ event: ReceivedEvent, consumer: String = "") {
        eventIds.append(event.envelope.id)
        entries.append(event)
        byConsumer[consumer, default: 0] += 1
    }

    var count: Int { eventIds.count }
    var uniqueCount: Int { Set(eventIds).count }
    var consumers: [String: Int] { byConsumer }
}

struct Numbered: Codable, Equatable {
    var number: Int
    var text: String
}

func makeEvent(_ number: Int, stream: String = "test-events") throws -> OutgoingEvent {
    let envelope = try EventEnvelope(
        type: "Numbered", key: "item-\(number)", payload: Numbered(number: number, text: "héllo \"\(number)\""))
    return OutgoingEvent(stream: stream, envelope: envelope)
}

extension StreamConsumer.Configuration {
    /// Short timings so that retry, claim and shutdown paths run within a test's patience.
    static func fast(streams: [String] = ["test-events"], group: String, consumer: String) -> Self {
        var configuration = Self(streams: streams, group: group, consumer: consumer)
        configuration.blockTimeout = .milliseconds(100)
        configuration.claimIdle = .milliseconds(600)
        configuration.claimInterval = .milliseconds(200)
        configuration.retryBackoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(100))
        return configuration
    }
}

func client(_ redis: RedisServer) -> RedisClient {
    RedisClient(endpoint: redis.endpoint, logger: .test("redis"))
}

/// A database with the Bus's tables (outbox and inbox) in a real SQLite file.
func busDatabase(at path: String? = nil) throws -> DatabasePool {
    var migrator = DatabaseMigrator()
    BusSchema.registerMigrations(in: &migrator)
    let file = try path ?? TemporaryDirectory.make(prefix: "bus").appendingPathComponent("bus.sqlite").path
    let database = try DatabasePool(path: file)
    try migrator.migrate(database)
    return database
}

/// Whether `group` has been handed every entry of `stream` and has acknowledged them all: from then
/// on nothing can be delivered again, so counts taken now are final.
func drained(_ redis: RedisServer, stream: String = "test-events", group: String) -> Bool {
    guard let reply = try? redis.command(["XINFO", "GROUPS", stream]),
        let info = GroupInfo.parseList(reply).first(where: { $0.name == group })
    else { return false }
    return info.pending == 0 && info.lag == 0
}

/// How many entries `group` still has pending on `stream`.
func pendingCount(_ redis: RedisServer, stream: String = "test-events", group: String) throws -> Int {
    try redis.command(["XPENDING", stream, group]).array?.first?.int ?? -1
}

/// A test case with a private redis-server, started before each test and stopped after it.
class RedisTestCase: XCTestCase {
    var redis: RedisServer!

    override func setUp() async throws {
        redis = try await RedisServer()
    }

    override func tearDown() async throws {
        redis = nil  // XCTest keeps test-case instances to the end: stop the server now
    }
}

/// A relay that polls and checks for loss every 50 ms, publishing to `test-events` and the like.
func quickRelay(
    _ database: DatabasePool, _ outbox: Outbox, client: RedisClient, _ tune: (inout OutboxRelay.Configuration) -> Void = { _ in }
) -> OutboxRelay {
    var configuration = OutboxRelay.Configuration()
    configuration.lossCheckInterval = .milliseconds(50)
    configuration.pollInterval = .milliseconds(50)
    tune(&configuration)
    return OutboxRelay(
        database: database, outbox: outbox, publisher: StreamPublisher(client: client), name: "relay", configuration: configuration,
        logger: .test("relay"))
}

/// The keys of the entries on `test-events` in `redis`, in stream order.
func entryKeys(_ redis: RedisServer) -> [String] {
    (try? redis.command(["XRANGE", "test-events", "-", "+"]).array?.compactMap { $0.array?[1].hash["key"] }) ?? []
}
