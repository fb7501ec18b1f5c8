import Contracts
import Hummingbird
import Identity
import ServiceKit

/// `GET /deliveries?rentalId=&status=` (`status`: one or more of ready, started, delivered, canceled,
/// comma-separated), `GET /deliveries/{id}`, `POST /deliveries/{id}/start`, `POST /deliveries/{id}/complete`
/// (the POSTs take an `Idempotency-Key`): for couriers and admins only. Deliveries carry customers'
/// names and addresses, and starting one ends the customer's right to cancel.
struct DeliveriesController: Sendable {
    let store: DeliveryStore

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.get { request, context in
            _ = try context.require(.courier, .admin)
            let rentalId = try request.uri.queryParameters.get("rentalId").map { try Validate.uuid($0, "rentalId") }
            let statuses = try request.uri.queryParameters.get("status").map { list in
                try list.split(separator: ",", omittingEmptySubsequences: false).map { name in
                    guard let status = DeliveryStatus(rawValue: String(name)) else {
                        throw APIError.badRequest("'status' must list ready, started, delivered or canceled, comma-separated")
                    }
                    return status
                }
            }
            let page = try PageRequest(request)
            let deliveries = try await store.deliveries(rentalId: rentalId, statuses: statuses, page: page)
            return page.page(
                deliveries, for: request, cursor: { PageCursor(position: $0.createdAt, id: $0.id) }, map: DeliveryResponse.init)
        }
        group.get("{id}") { _, context in
            _ = try context.require(.courier, .admin)
            return DeliveryResponse(try await store.delivery(id: try context.uuidParameter("id")))
        }
        let writes = IdempotentWrites(writes: store.writes)
        group.post("{id}/start") { request, context in
            let caller = try context.require(.courier, .admin)
            let id = try context.uuidParameter("id")
            return try await writes.respond(to: request, by: caller) { db in DeliveryResponse(try store.start(id: id, in: db)) }
        }
        group.post("{id}/complete") { request, context in
            let caller = try context.require(.courier, .admin)
            let id = try context.uuidParameter("id")
            return try await writes.respond(to: request, by: caller) { db in DeliveryResponse(try store.complete(id: id, in: db)) }
        }
    }
}
