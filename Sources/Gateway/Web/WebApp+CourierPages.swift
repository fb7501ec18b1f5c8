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

/// The couriers' page: the deliveries to do, started and completed from there.
extension WebApp {
    func deliveriesPage(_ session: WebSession, _ request: Request, _ context: Context, problem: PageFailure? = nil) async throws
        -> Response
    {
        guard session.caller.role != .customer else {
            throw PageFailure(status: .forbidden, message: "Deliveries are for couriers: sign in as a courier.")
        }
        let liveSince = live?.position  // before the deliveries: see LiveChanges
        let deliveries = try Self.decode(
            [APIDelivery].self, await call(.get, "/deliveries", query: "status=ready,started&limit=200", session: session, request, context)
        )
        // Delivery keeps the title the order carried; one made before it did shows the book's id.
        let items = deliveries.reversed().map {
            DeliveriesModel.Delivery(
                id: $0.id, bookTitle: $0.bookTitle ?? "Book \($0.bookId.prefix(8))", customerId: $0.customerId, address: $0.address,
                status: $0.status.rawValue, canStart: $0.status == .ready, canComplete: $0.status == .started, actionKey: UUIDv7.string())
        }
        return try await render(
            Page(
                title: "Deliveries to do", template: "deliveries", model: DeliveriesModel(deliveries: items, hasDeliveries: !items.isEmpty),
                notice: Self.notice(request), problem: problem?.problem, liveSince: liveSince, status: problem?.status ?? .ok,
                headers: problem?.retryHeaders ?? [:]), session: session, request)
    }

    func deliveryAction(
        _ action: String, delivery id: String, _ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context
    ) async throws -> Response {
        let answer = await call(
            .post, "/deliveries/\(id)/\(action)", idempotencyKey: fields.text("idempotencyKey"), session: session, request, context)
        guard answer.status.kind == .successful else {
            return try await deliveriesPage(session, request, context, problem: PageFailure(answer))
        }
        return Self.redirect(to: "/app/deliveries?done=\(action == "start" ? "started" : "completed")")
    }
}
