import Hummingbird
import ServiceKit

/// `POST /rentals`, `GET /rentals/{id}`, `GET /rentals?customerId=`, cancel and return. The POSTs
/// take an `Idempotency-Key`.
struct RentalsController: Sendable {
    let store: RentalStore

    struct OrderRequest: Decodable {
        var customerId: String?
        var bookId: String?
        var address: String?
    }

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        let writes = IdempotentWrites(database: store.database)
        group.post { request, _ in
            let body = try await request.collectBody()
            let input = try body.decodeJSON(as: OrderRequest.self)
            let customerId = try Validate.text(input.customerId, "customerId", maxLength: 100)
            let bookId = try Validate.uuid(input.bookId, "bookId")
            let address = try Validate.text(input.address, "address")
            return try await writes.respond(to: request, body: body, status: .created) { db in
                RentalResponse(try store.order(customerId: customerId, bookId: bookId, address: address, in: db))
            }
        }
        group.get { request, _ in
            let customerId = try Validate.text(request.uri.queryParameters.get("customerId"), "customerId", maxLength: 100)
            return try await store.rentals(customerId: customerId).map(RentalResponse.init)
        }
        group.get("{id}") { _, context in RentalResponse(try await store.rental(id: try context.uuidParameter("id"))) }
        group.post("{id}/cancel") { request, context in
            let id = try context.uuidParameter("id")
            return try await writes.respond(to: request, status: .accepted) { db in RentalResponse(try store.requestCancel(id: id, in: db))
            }
        }
        group.post("{id}/return") { request, context in
            let id = try context.uuidParameter("id")
            return try await writes.respond(to: request) { db in RentalResponse(try store.returnRental(id: id, in: db)) }
        }
    }
}
