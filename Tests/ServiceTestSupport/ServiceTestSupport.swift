import Bus
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import ServiceKit
import TestSupport
import XCTest

extension DomainEvent {
    /// The event as a consumer receives it, for driving handlers directly.
    public func received(deliveries: Int = 1) throws -> ReceivedEvent {
        ReceivedEvent(envelope: try outgoing().envelope, stream: Self.stream, entryId: "1-0", deliveries: deliveries)
    }
}

extension ReceivedEvent {
    /// The same event delivered again (same event id), as after a crash before the acknowledgement.
    public var redelivered: ReceivedEvent {
        ReceivedEvent(envelope: envelope, stream: stream, entryId: entryId, deliveries: deliveries + 1)
    }
}

/// A fresh SQLite file in a temporary directory: tests use real files, as the services do.
public func temporaryDatabasePath(_ name: String) throws -> String {
    try TemporaryDirectory.make(prefix: name).appendingPathComponent("\(name).sqlite").path
}

/// The events a store wrote to its outbox, oldest first.
public func outboxEvents(in database: any DatabaseReader) async throws -> [EventEnvelope] {
    try await database.read { db in try OutboxRecord.order(Column("sequence")).fetchAll(db).map(\.event.envelope) }
}

extension TestClientProtocol {
    /// Sends JSON (or any raw text) and returns status and decoded-as-dictionary body.
    @discardableResult
    public func json(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil) async throws -> (status: HTTPResponse.Status, body: Any?) {
        try await execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: body.map { ByteBuffer(string: $0) }) { response in
            let data = Data(response.body.readableBytesView)
            return (response.status, data.isEmpty ? nil : try? JSONSerialization.jsonObject(with: data))
        }
    }

    /// Like ``json(_:_:body:)`` for a call expected to answer an object.
    public func object(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil, file: StaticString = #filePath, line: UInt = #line) async throws -> (status: HTTPResponse.Status, body: [String: Any]) {
        let (status, body) = try await json(method, uri, body: body)
        guard let object = body as? [String: Any] else {
            XCTFail("expected a JSON object, got \(String(describing: body))", file: file, line: line)
            return (status, [:])
        }
        return (status, object)
    }

    /// Asserts a JSON error: the status and `{"error": "..."}`.
    public func expectError(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil, status expected: HTTPResponse.Status, file: StaticString = #filePath, line: UInt = #line) async throws {
        let (status, body) = try await object(method, uri, body: body, file: file, line: line)
        XCTAssertEqual(status, expected, "\(method) \(uri)", file: file, line: line)
        XCTAssertNotNil(body["error"] as? String, "an error message", file: file, line: line)
    }
}
