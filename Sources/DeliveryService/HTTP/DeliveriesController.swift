import Hummingbird
import ServiceKit

/// `GET /deliveries?rentalId=`, `GET /deliveries/{id}`, `POST /deliveries/{id}/start`, `POST /deliveries/{id}/complete`
/// (the POSTs take an `Idempotency-Key`).
struct DeliveriesController: Sendable {
    let store: DeliveryStore

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        group.get { request, _ in
            let rentalId = try request.uri.queryParameters.get("rentalId").map { try Validate.uuid($0, "rentalId") }
            let limit = try Validate.limit(request.uri.queryParameters.get("limit"), default: 100, maximum: 1000)
            return try await store.deliveries(rentalId: rentalId, limit: limit).map(DeliveryResponse.init)
        }
        group.get("{id}") { _, context in DeliveryResponse(try await store.delivery(id: try context.uuidParameter("id"))) }
        let writes = IdempotentWrites(database: store.database)
        group.post("{id}/start") { request, context in
            let id = try context.uuidParameter("id")
            return try await writes.respond(to: request) { db in DeliveryResponse(try store.start(id: id, in: db)) }
        }
        group.post("{id}/complete") { request, context in
            let id = try context.uuidParameter("id")
            return try await writes.respond(to: request) { db in DeliveryResponse(try store.complete(id: id, in: db)) }
        }
    }
}
