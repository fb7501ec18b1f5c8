import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Every error a client sees: an HTTP status and `{"error": "..."}`.
///
/// Domain errors of each service convert into this in one place (their `apiError`), so controllers
/// never pick status codes themselves.
public struct APIError: Error, HTTPResponseError, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// Header fields that go with the answer: `Retry-After` for a 503, `Allow` for a 405.
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
    public static func conflict(_ message: String) -> APIError { APIError(.conflict, message) }

    /// 405 for a known path asked with `method`, with `Allow` listing `allowed` (and `HEAD` with a
    /// `GET`, which Hummingbird answers for every GET route): a service's routes and the gateway's
    /// table say it alike.
    public static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: some Sequence<HTTPRequest.Method>) -> APIError {
        var methods = Set(allowed.map(\.rawValue))
        if methods.contains(HTTPRequest.Method.get.rawValue) { methods.insert(HTTPRequest.Method.head.rawValue) }
        let allow = methods.sorted().joined(separator: ", ")
        return APIError(.methodNotAllowed, "\(method.rawValue) is not allowed here; allowed: \(allow)", headers: [.allow: allow])
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: responseHeaders, body: ResponseBody(byteBuffer: body))
    }

    /// ``headers`` with `Content-Type: application/json`: what every answer of this error carries,
    /// here and in the gateway's own answers.
    public var responseHeaders: HTTPFields {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return headers
    }

    /// `{"error":"<message>"}`, the message escaped as JSON requires (`"`, `\`, control characters).
    ///
    /// Why not `JSONEncoder`: a new encoder per error, boxing the dictionary, was 3.8 % of the
    /// gateway's CPU at its saturation, where many answers are 503s (perf).
    public var body: ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(message.utf8.count + 16)
        body.writeStaticString(#"{"error":""#)
        for byte in message.utf8 {
            switch byte {
            case UInt8(ascii: "\""): body.writeStaticString(#"\""#)
            case UInt8(ascii: "\\"): body.writeStaticString(#"\\"#)
            case UInt8(ascii: "\n"): body.writeStaticString(#"\n"#)
            case UInt8(ascii: "\r"): body.writeStaticString(#"\r"#)
            case UInt8(ascii: "\t"): body.writeStaticString(#"\t"#)
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                body.writeStaticString(#"\u00"#)
                body.writeInteger(hex.utf8Start[Int(byte >> 4)])
                body.writeInteger(hex.utf8Start[Int(byte & 0xF)])
            default: body.writeInteger(byte)
            }
        }
        body.writeStaticString(#""}"#)
        return body
    }

    public var description: String { "\(status.code) \(message)" }
}

/// A domain error that knows which ``APIError`` it is.
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}
