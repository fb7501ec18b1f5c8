import Foundation
import Hummingbird
import ServiceKit

/// `GET /customers/{customerId}/rentals`, `GET /rentals/{id}`.
struct ViewsController: Sendable {
    let views: RentalViewStore

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("customers/{customerId}/rentals") { _, context in
            // Path parameters come percent-encoded: /customers/alice%20smith/rentals is alice smith's.
            let raw = context.parameters.get("customerId")
            let customerId = try Validate.text(raw?.removingPercentEncoding ?? raw, "customerId", maxLength: 100)
            return try await views.views(customerId: customerId).map(RentalViewResponse.init)
        }
        router.get("rentals/{id}") { _, context in
            let id = try context.uuidParameter("id")
            guard let view = try await views.view(rentalId: id) else { throw APIError.notFound("rental \(id) not found") }
            return RentalViewResponse(view)
        }
    }
}
