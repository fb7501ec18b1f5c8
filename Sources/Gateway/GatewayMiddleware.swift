import Foundation
import HTTPTypes
import Hummingbird
import Identity
import NIOCore
import NIOHTTP1
import ServiceKit

/// Serves the public API's requests through ``PublicAPI`` (every error as `{"error": …}`); the
/// gateway's own routes (probes, metrics, the web app, the OpenAPI document) go on to the router.
/// Every answer carries `X-Request-Id`. A served gateway answers the API before the router, in
/// the connection's pipeline (``APIChannelHandler``), so there none of the API's requests reach
/// this middleware; in the router's tests, which have no channel, they do.
struct GatewayMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let api: PublicAPI

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if PublicAPI.isOwn(request.uri.path) {
            var response: Response
            do {
                response = try await next(request, context)
            } catch let error as APIError {
                response = try error.response(from: request, context: context)
            }
            response.headers[PublicAPI.requestIdHeader] = PublicAPI.requestId(of: request.headers)
            return response
        }
        let call = PublicAPI.Call(
            method: request.method, path: request.uri.path, query: request.uri.query, headers: request.headers,
            body: .stream(request.body), clientAddress: context.remoteAddress?.ipAddress)
        return await api.exchange(call).response
    }
}

/// Rental's records made to look like Lookup's views, marked: `fallback: true` and a delivery
/// status of `unknown` (only Lookup knows it).
enum RentalRecords {
    static func asViews(_ body: ByteBuffer) -> ByteBuffer? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) else { return nil }
        func view(_ record: Any) -> Any? {
            guard let record = record as? [String: Any], let id = record["id"] else { return nil }
            return [
                "rentalId": id, "customerId": record["customerId"] ?? NSNull(), "bookId": record["bookId"] ?? NSNull(),
                "bookTitle": NSNull(), "status": record["status"] ?? NSNull(), "deliveryStatus": "unknown",
                "updatedAt": record["updatedAt"] ?? NSNull(), "fallback": true,
            ]
        }
        let converted: Any?
        if let list = json as? [Any] {
            let views = list.compactMap(view)
            converted = views.count == list.count ? views : nil
        } else {
            converted = view(json)
        }
        guard let converted, let data = try? JSONSerialization.data(withJSONObject: converted, options: [.sortedKeys]) else { return nil }
        return ByteBuffer(bytes: data)
    }
}
