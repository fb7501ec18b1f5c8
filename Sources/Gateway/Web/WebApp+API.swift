import Bus
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import NIOCore
import Primitives
import Redis
import ServiceKit
import ServiceLifecycle

/// How the pages call the public API, as the signed-in person.
extension WebApp {
    func call(
        _ method: HTTPRequest.Method, _ path: String, query: String? = nil, body: Data? = nil,
        idempotencyKey: String? = nil, session: WebSession?, _ request: Request, _ context: Context, through table: RouteTable? = nil
    ) async -> PublicAPI.Answer {
        var headers: HTTPFields = [.accept: "application/json"]
        if let session, case .tokens = api.authentication { headers[.authorization] = "Bearer \(session.token)" }
        if let requestId = request.headers[PublicAPI.requestIdHeader] { headers[PublicAPI.requestIdHeader] = requestId }
        var buffer = ByteBuffer()
        if let body {
            headers[.contentType] = "application/json"
            buffer = ByteBuffer(bytes: body)
        } else if method == .post {
            headers[.contentType] = "application/json"
        }
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return await api.exchange(
            // The browser's address: the rate limit's key for a call without a token, as for any client.
            .init(
                method: method, path: path, query: query, headers: headers, body: .buffer(buffer),
                clientAddress: context.remoteAddress?.ipAddress), through: table)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ answer: PublicAPI.Answer) throws -> T {
        guard answer.status.kind == .successful else { throw PageFailure(answer) }
        do {
            return try JSONDecoder().decode(type, from: Data(answer.body.readableBytesView))
        } catch {
            throw PageFailure(status: .badGateway, message: "An answer could not be read.")
        }
    }

    /// The `cursor` of the next page in a list's `Link` header.
    static func nextCursor(_ answer: PublicAPI.Answer) -> String? {
        guard let link = answer.headers[.link], let start = link.range(of: "cursor=") else { return nil }
        let rest = link[start.upperBound...]
        let value = rest.prefix { $0 != "&" && $0 != ">" }
        return String(value).removingPercentEncoding
    }
}
