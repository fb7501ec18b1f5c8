import Bus
import Foundation
import GRDB
import Logging
import TestSupport

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
    let envelope = try EventEnvelope(type: "Numbered", key: "item-\(number)", payload: Numbered(number: number, text: "héllo \"\(number)\""))
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

func client(_ redis: RedisServer, _ name: String = "test") -> RedisClient {
    RedisClient(endpoint: redis.endpoint, name: name, logger: .test("redis"))
}

/// An in-memory database with the Bus's tables (outbox and inbox), for outbox and inbox tests.
func busDatabase() throws -> DatabaseQueue {
    let database = try DatabaseQueue()
    var migrator = DatabaseMigrator()
    BusSchema.register(in: &migrator)
    try migrator.migrate(database)
    return database
}
