import Hummingbird
import Identity
import ServiceKit

/// `POST /rentals`, `GET /rentals/{id}`, `GET /rentals?customerId=`, cancel and return. The POSTs
/// take an `Idempotency-Key`. Customers act on their own rentals only: another customer's rental
/// answers 404, as if it did not exist; admins act on any.
struct RentalsController: Sendable {
    let store: RentalStore

    struct OrderRequest: Decodable {
        var customerId: String?
        var bookId: String?
        var address: String?
    }

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        let writes = IdempotentWrites(writes: store.writes)
        group.post { request, context in
            let caller = try context.require(.customer, .admin)
            let body = try await request.collectBody()
            let input = try body.decodeJSON(as: OrderRequest.self)
            let asked = try input.customerId.map { try Validate.text($0, "customerId", maxLength: 100) }
            let customerId = try caller.customerId(asked: asked)
            let bookId = try Validate.uuid(input.bookId, "bookId")
            let address = try Validate.text(input.address, "address")
            return try await writes.respond(to: request, by: caller, body: body, status: .created) { db in
                RentalResponse(try store.order(customerId: customerId, bookId: bookId, address: address, in: db))
            }
        }
        group.get { request, context in
            let caller = try context.require(.customer, .admin)
            let asked = try request.uri.queryParameters.get("customerId").map { try Validate.text($0, "customerId", maxLength: 100) }
            let customerId = try caller.customerId(asked: asked)
            let page = try PageRequest(request)
            let rentals = try await store.rentals(customerId: customerId, page: page)
            return page.page(rentals, for: request, cursor: { PageCursor(position: $0.createdAt, id: $0.id) }, map: RentalResponse.init)
        }
        group.get("{id}") { _, context in
            let caller = try context.require(.customer, .admin)
            return RentalResponse(try await store.rental(id: try context.uuidParameter("id"), owner: caller.restrictedToCustomer))
        }
        group.post("{id}/cancel") { request, context in
            let caller = try context.require(.customer, .admin)
            let id = try context.uuidParameter("id")
            return try await writes.respond(to: request, by: caller, status: .accepted) { db in
                RentalResponse(try store.requestCancel(id: id, owner: caller.restrictedToCustomer, in: db))
            }
        }
        group.post("{id}/return") { request, context in
            let caller = try context.require(.customer, .admin)
            let id = try context.uuidParameter("id")
            return try await writes.respond(to: request, by: caller) { db in
                RentalResponse(try store.returnRental(id: id, owner: caller.restrictedToCustomer, in: db))
            }
        }
    }
}
