import Bus
import Contracts
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import ServiceKit
import TestSupport
import XCTest

extension DomainEvent {
    /// The event as a consumer receives it, for driving handlers directly.
    public func received(attempt: Int = 1) throws -> ReceivedEvent {
        ReceivedEvent(envelope: try outgoing().envelope, stream: Self.stream, entryId: "1-0", attempt: attempt)
    }
}

extension ReceivedEvent {
    /// The same event delivered again (same event id), as after a crash before the acknowledgement.
    public var redelivered: ReceivedEvent {
        ReceivedEvent(envelope: envelope, stream: stream, entryId: entryId, attempt: attempt + 1)
    }
}

extension EventRoutes {
    /// Applies one event in a transaction of its own, as a consumer batch of one; throws its error.
    public func handle(_ event: ReceivedEvent) async throws {
        if let error = await batchHandler([event]).first ?? nil { throw error }
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

/// Runs `test` with a client of `router`'s routes, in process (no socket).
public func withClient(
    _ router: Router<ServiceRequestContext>, _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
) async throws {
    try await Application(router: router).test(.router) { try await test($0) }
}

/// The body of every error answer.
public struct ErrorBody: Decodable, Sendable {
    public var error: String
}

extension TestClientProtocol {
    /// Sends `body` (JSON, or any raw text) and decodes the answer as `T`, asserting its status.
    public func call<T: Decodable & Sendable>(
        _ method: HTTPRequest.Method, _ uri: String, body: String? = nil, as _: T.Type = T.self, status expected: HTTPResponse.Status = .ok,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> T {
        try await execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: body.map { ByteBuffer(string: $0) })
        {
            response in
            XCTAssertEqual(response.status, expected, "\(method) \(uri): \(String(buffer: response.body))", file: file, line: line)
            do {
                return try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
            } catch {
                XCTFail("\(method) \(uri): not a \(T.self): \(String(buffer: response.body))", file: file, line: line)
                throw error
            }
        }
    }

    /// Asserts a JSON error: the status and `{"error": "..."}`; returns the message.
    @discardableResult
    public func expectError(
        _ method: HTTPRequest.Method, _ uri: String, body: String? = nil, status expected: HTTPResponse.Status,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> String {
        let answer = try await call(method, uri, body: body, as: ErrorBody.self, status: expected, file: file, line: line)
        XCTAssertFalse(answer.error.isEmpty, "an error message", file: file, line: line)
        return answer.error
    }
}
