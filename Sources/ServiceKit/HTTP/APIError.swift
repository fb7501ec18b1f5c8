import Foundation
import Hummingbird

/// Every error a client sees: an HTTP status and `{"error": "..."}`.
///
/// Domain errors of each service convert into this in one place (their `apiError`), so controllers
/// never pick status codes themselves.
public struct APIError: Error, HTTPResponseError, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// Seconds after which trying again makes sense (`Retry-After`), for a 503 or a 429.
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
    public static func conflict(_ message: String) -> APIError { APIError(.conflict, message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder().encode(["error": message])
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    public var description: String { "\(status.code) \(message)" }
}

/// A domain error that knows which ``APIError`` it is.
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}
