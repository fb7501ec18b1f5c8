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

/// `GET /app/live`: the live pages' feed.
extension WebApp {
    /// `GET /app/live`: Server-Sent Events, one `change` per change of a view the person may see
    /// (a customer's own rentals; everything for couriers and admins), and a comment now and then
    /// that keeps the connection open. Ends when the gateway shuts down.
    func liveEvents(_ request: Request) async throws -> Response {
        guard let session = await session(request) else { throw APIError.unauthorized("sign in first") }
        // The position the page was rendered at (see LiveChanges); bounded, it is only compared.
        let since = request.uri.queryParameters["since"].map(String.init).flatMap { $0.utf8.count <= 64 ? $0 : nil }
        guard let live, let subscription = live.subscribe(since: since) else {
            throw APIError(.serviceUnavailable, "live changes are not available on this gateway", headers: [.retryAfter: "5"])
        }
        let customer = session.caller.role == .customer ? session.caller.subject : nil
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { live.unsubscribe(subscription.id) }
                try await writer.write(ByteBuffer(string: "retry: 1000\n: live\n\n"))
                try await withGracefulShutdownHandler {
                    for await signal in subscription.signals {
                        switch signal {
                        case .heartbeat:
                            try await writer.write(ByteBuffer(string: ": still here\n\n"))
                        case .change(let change):
                            guard customer == nil || change.customerId == customer else { continue }
                            try await writer.write(ByteBuffer(string: "event: change\ndata: {\"rentalId\":\"\(change.rentalId)\"}\n\n"))
                        case .missed:
                            try await writer.write(ByteBuffer(string: "event: change\ndata: {}\n\n"))
                        }
                    }
                } onGracefulShutdown: {
                    live.unsubscribe(subscription.id)
                }
                try await writer.finish(nil)
            })
    }
}
