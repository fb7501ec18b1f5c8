import Foundation
import HTTPTypes
import Hummingbird

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
        let body = try JSONEncoder().encode(["error": message])
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    public var description: String { "\(status.code) \(message)" }
}

/// A domain error that knows which ``APIError`` it is.
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}
