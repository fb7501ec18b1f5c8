import Foundation
import Primitives
import Redis

/// The wire form of every event: the fields of one stream entry, laid out so that
/// `redis-cli XRANGE` reads well.
///
/// | field | meaning |
/// |---|---|
/// | `id` | the event's UUID; consumers de-duplicate on it |
/// | `type` | e.g. `RentalOrdered` |
/// | `key` | the aggregate id (a rental id, a book id); also the saga's correlation key |
/// | `occurredAt` | ISO-8601 UTC with milliseconds |
/// | `correlationId` | the id shared by every event of one business flow |
/// | `causationId` | the id of the event that caused this one, empty for a user's command |
/// | `data` | the payload, a JSON object |
/// | `requestId` | the `X-Request-Id` of the request that started the flow; left out when there was none |
/// | `traceparent`, `tracestate` | W3C Trace Context of the event's `create` span (``MessageTrace``); left out when tracing is off |
public struct EventEnvelope: Sendable, Equatable, Codable {
    public var id: String
    public var type: String
    public var key: String
    public var occurredAt: String
    public var correlationId: String
    public var causationId: String
    public var data: String
    /// Empty when the flow did not start with a request that had one.
    public var requestId: String
    /// The trace context the event carries (``MessageTrace``); empty when tracing is off. Set when
    /// the event is committed to the outbox, never copied from a cause.
    public var traceParent = ""
    public var traceState = ""

    public init(
        id: String = UUIDv7.string(), type: String, key: String, occurredAt: Date = Date(),
        correlationId: String? = nil, causationId: String = "", data: String, requestId: String = ""
    ) {
        self.id = id
        self.type = type
        self.key = key
        self.occurredAt = Timestamp.string(from: occurredAt)
        self.correlationId = correlationId ?? key
        self.causationId = causationId
        self.data = data
        self.requestId = requestId
    }

    /// An event whose payload is `payload` encoded as JSON.
    public init<Payload: Encodable>(
        type: String, key: String, payload: Payload, occurredAt: Date = Date(),
        correlationId: String? = nil, causationId: String = "", requestId: String = ""
    ) throws {
        let json = try JSONEncoder.events.encode(payload)
        self.init(
            type: type, key: key, occurredAt: occurredAt, correlationId: correlationId,
            causationId: causationId, data: String(decoding: json, as: UTF8.self), requestId: requestId)
    }

    /// An event caused by `cause`: same correlation id and request id, causation id pointing at it.
    public init<Payload: Encodable>(type: String, key: String, payload: Payload, causedBy cause: EventEnvelope, occurredAt: Date = Date())
        throws
    {
        try self.init(
            type: type, key: key, payload: payload, occurredAt: occurredAt, correlationId: cause.correlationId, causationId: cause.id,
            requestId: cause.requestId)
    }

    public static let fieldNames = [
        "id", "type", "key", "occurredAt", "correlationId", "causationId", "data", "requestId", "traceparent", "tracestate",
    ]

    /// Field/value pairs in a fixed order, ready to follow `XADD stream *` (`requestId` and the trace
    /// context only when there are).
    public var fields: [String] {
        var fields = [
            "id", id, "type", type, "key", key, "occurredAt", occurredAt,
            "correlationId", correlationId, "causationId", causationId, "data", data,
        ]
        if !requestId.isEmpty { fields += ["requestId", requestId] }
        if !traceParent.isEmpty { fields += ["traceparent", traceParent] }
        if !traceState.isEmpty { fields += ["tracestate", traceState] }
        return fields
    }

    /// Reads an envelope back from a stream entry's fields. Throws for an entry that is not one of ours.
    public init(fields: [String: String]) throws(EnvelopeDecodingError) {
        var found = FoundFields()
        for (name, value) in fields { found.take(name, value) }
        try self.init(found)
    }

    /// Reads an envelope back from a stream entry's field list (name, value, …), as a consumer
    /// reads it (``StreamEntry/fieldList``). Throws for an entry that is not one of ours.
    ///
    /// One pass over the pairs. A lookup per field (``StreamEntry/value(of:in:)``) scanned the list
    /// ten times per event, 11 % of a consumer's CPU under `benchmark bus` in `perf`; a dictionary
    /// per entry hashes every name, which cost more still (``StreamEntry/fieldList``).
    public init(fieldList: [String]) throws(EnvelopeDecodingError) {
        var found = FoundFields()
        var index = 0
        while index + 1 < fieldList.count {
            found.take(fieldList[index], fieldList[index + 1])
            index += 2
        }
        try self.init(found)
    }

    private init(_ found: FoundFields) throws(EnvelopeDecodingError) {
        func required(_ value: String?, _ name: String) throws(EnvelopeDecodingError) -> String {
            guard let value, !value.isEmpty else { throw .missingField(name) }
            return value
        }
        id = try required(found.id, "id")
        guard UUIDText.isUUID(id) else { throw .invalidField("id", id) }
        type = try required(found.type, "type")
        key = try required(found.key, "key")
        occurredAt = try required(found.occurredAt, "occurredAt")
        data = try required(found.data, "data")
        guard data.utf8.first == UInt8(ascii: "{") else { throw .invalidField("data", "not a JSON object") }
        correlationId = found.correlationId ?? key
        causationId = found.causationId ?? ""
        requestId = found.requestId ?? ""
        traceParent = found.traceParent ?? ""
        traceState = found.traceState ?? ""
    }

    /// Decodes `data` into the event's payload type.
    public func payload<Payload: Decodable>(as _: Payload.Type = Payload.self) throws -> Payload {
        try JSONDecoder.events.decode(Payload.self, from: Data(data.utf8))
    }

    public var occurredDate: Date? { Timestamp.date(from: occurredAt) }
}

/// The envelope's fields found in an entry, by name (``EventEnvelope/fieldNames``); other names
/// are left alone, and for a repeated one the last value wins, as in ``StreamEntry/fields``.
private struct FoundFields {
    var id, type, key, occurredAt, correlationId, causationId, data, requestId, traceParent, traceState: String?

    mutating func take(_ name: String, _ value: String) {
        switch name {
        case "id": id = value
        case "type": type = value
        case "key": key = value
        case "occurredAt": occurredAt = value
        case "correlationId": correlationId = value
        case "causationId": causationId = value
        case "data": data = value
        case "requestId": requestId = value
        case "traceparent": traceParent = value
        case "tracestate": traceState = value
        default: break
        }
    }
}

/// Why a stream entry is not a readable event: such an entry goes to the dead-letter stream at once.
public enum EnvelopeDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingField(String)
    case invalidField(String, String)

    public var description: String {
        switch self {
        case .missingField(let name): "missing field '\(name)'"
        case .invalidField(let name, let value): "invalid field '\(name)': \(value)"
        }
    }
}

extension JSONEncoder {
    /// Event payloads: sorted keys so that the same event always has the same bytes.
    public static var events: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

extension JSONDecoder {
    public static var events: JSONDecoder { JSONDecoder() }
}
