import Bus
import Foundation
import Hummingbird
import Primitives

extension Request {
    /// The whole body, up to `maxSize` bytes (413 beyond).
    public func collectBody(maxSize: Int = 64 * 1024) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: maxSize)
        } catch {
            throw APIError(.contentTooLarge, "request body larger than \(maxSize) bytes")
        }
    }

    /// Decodes a JSON body into `T`, turning every way it can be wrong into a 400 that says why.
    /// Unknown fields are ignored.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: some RequestContext, maxSize: Int = 64 * 1024) async throws -> T {
        try (try await collectBody(maxSize: maxSize)).decodeJSON(as: type)
    }
}

extension ByteBuffer {
    /// Decodes a JSON request body into `T`, turning every way it can be wrong into a 400 that says why.
    public func decodeJSON<T: Decodable>(as _: T.Type) throws -> T {
        let buffer = self
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("a JSON body is required") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch DecodingError.keyNotFound(let key, _) {
            throw APIError.badRequest("missing field '\(key.stringValue)'")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError.badRequest(field.isEmpty ? "the body must be a JSON object" : "field '\(field)' has the wrong type")
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            // A number that does not fit (fractional, or out of range) for a whole-number field.
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError.badRequest("field '\(field)' must be a whole number in range")
        } catch {
            throw APIError.badRequest("malformed JSON")
        }
    }
}

extension RequestContext {
    /// A path parameter that must be a UUID; answers 400 otherwise. Returned in lowercase, the form ids are stored in.
    public func uuidParameter(_ name: String) throws -> String {
        guard let value = parameters.get(name), let uuid = Validate.canonicalUUID(value) else {
            throw APIError.badRequest("'\(parameters.get(name) ?? "")' is not a valid \(name) (expected a UUID)")
        }
        return uuid
    }
}

/// Input checks shared by the services' request types.
public enum Validate {
    /// A required text field: trimmed, non-empty, at most `maxLength` characters, and no control
    /// characters (a newline or a NUL in a title could forge a log line or break a client).
    public static func text(_ value: String?, _ field: String, maxLength: Int = 500) throws -> String {
        if let value, let trimmed = printableASCIITrimmed(value) {
            // The common case, checked on the bytes: Foundation's trimming and the scalar property
            // lookups below cost a few microseconds per field, several fields per order.
            guard !trimmed.isEmpty else { throw APIError.badRequest("'\(field)' is required") }
            guard trimmed.utf8.count <= maxLength else { throw APIError.badRequest("'\(field)' is longer than \(maxLength) characters") }
            return trimmed
        }
        if let value, value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw APIError.badRequest("'\(field)' must not contain control characters such as newlines")
        }
        let trimmed = value?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !trimmed.isEmpty else { throw APIError.badRequest("'\(field)' is required") }
        guard trimmed.count <= maxLength else { throw APIError.badRequest("'\(field)' is longer than \(maxLength) characters") }
        return trimmed
    }

    /// A UUID given in a body or a query; answers 400 when it is not one.
    public static func uuid(_ value: String?, _ field: String) throws -> String {
        if let value, let uuid = canonicalUUID(value) { return uuid }
        let text = try text(value, field, maxLength: 64)
        guard let uuid = canonicalUUID(text) else { throw APIError.badRequest("'\(field)' must be a UUID") }
        return uuid
    }

    /// `text` in lowercase if it is a UUID in its 36-character form, else nil (``UUIDText/canonical(_:)``).
    public static func canonicalUUID(_ text: String) -> String? { UUIDText.canonical(text) }

    /// `value` without its leading and trailing spaces when every byte of it is printable ASCII
    /// (no control character, nothing to trim but spaces); nil otherwise, for the general checks.
    static func printableASCIITrimmed(_ value: String) -> String? {
        let bytes = value.utf8
        guard bytes.allSatisfy({ (0x20...0x7E).contains($0) }) else { return nil }
        guard let first = bytes.firstIndex(where: { $0 != 0x20 }), let last = bytes.lastIndex(where: { $0 != 0x20 }) else { return "" }
        if first == bytes.startIndex && last == bytes.index(before: bytes.endIndex) { return value }
        return String(value[first...last])
    }

    /// An optional positive count with a default and an upper bound, from a query string.
    public static func limit(_ value: String?, default defaultValue: Int, maximum: Int, field: String = "limit") throws -> Int {
        guard let value else { return defaultValue }
        guard let number = Int(value), (1...maximum).contains(number) else {
            throw APIError.badRequest("'\(field)' must be a whole number from 1 to \(maximum)")
        }
        return number
    }
}

/// A whole number in a JSON body. Foundation's decoder reports a fractional or out-of-range number
/// for an `Int` as "not valid JSON", without the field; decoded through this, the 400 names the field.
public struct WholeNumber: Decodable, Sendable, Equatable {
    public let value: Int

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let number = try container.decode(Double.self)
        guard number == number.rounded(), abs(number) <= 9_007_199_254_740_992 else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(number) is not a whole number in range")
        }
        value = Int(number)
    }
}
