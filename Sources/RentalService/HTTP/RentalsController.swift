import Hummingbird
import ServiceKit

/// `POST /rentals`, `GET /rentals/{id}`, `GET /rentals?customerId=`, cancel and return.
struct RentalsController: Sendable {
    let store: RentalStore

    struct OrderRequest: Decodable {
        var customerId: String?
        var bookId: String?
        var address: String?
    }

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        group.post { request, context in
            let input = try await request.decodeJSON(as: OrderRequest.self, context: context)
            let rental = try await store.order(
                customerId: try Validate.text(input.customerId, "customerId", maxLength: 100),
                bookId: try Validate.uuid(input.bookId, "bookId"),
                address: try Validate.text(input.address, "address"))
            return EditedResponse(status: .created, response: RentalResponse(rental))
        }
        group.get { request, _ in
            let customerId = try Validate.text(request.uri.queryParameters.get("customerId"), "customerId", maxLength: 100)
            return try await store.rentals(customerId: customerId).map(RentalResponse.init)
        }
        group.get("{id}") { _, context in RentalResponse(try await store.rental(id: try context.uuidParameter("id"))) }
        group.post("{id}/cancel") { _, context in
            let rental = try await store.requestCancel(id: try context.uuidParameter("id"))
            return EditedResponse(status: .accepted, response: RentalResponse(rental))
        }
        group.post("{id}/return") { _, context in RentalResponse(try await store.returnRental(id: try context.uuidParameter("id"))) }
    }
}
