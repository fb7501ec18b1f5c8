import Foundation
import Hummingbird
import Identity
import ServiceKit

/// `GET /customers/{customerId}/rentals`, `GET /rentals/{id}`: a customer's own views, or anyone's
/// for an admin. Another customer's rental answers 404, as if it did not exist.
struct ViewsController: Sendable {
    let views: RentalViewStore

    func addRoutes(to router: Router<ServiceRequestContext>) {
        router.get("customers/{customerId}/rentals") { request, context in
            let caller = try context.require(.customer, .admin)
            // Path parameters come percent-encoded: /customers/alice%20smith/rentals is alice smith's.
            let raw = context.parameters.get("customerId")
            let customerId = try caller.customerId(
                asked: try Validate.text(raw?.removingPercentEncoding ?? raw, "customerId", maxLength: 100))
            let page = try PageRequest(request, isOwnCursor: { Double($0.position) != nil })
            let views = try await views.views(customerId: customerId, page: page)
            return page.page(views, for: request, cursor: { PageCursor(position: $0.score, id: $0.view.rentalId) }) {
                RentalViewResponse($0.view)
            }
        }
        router.get("rentals/{id}") { _, context in
            let caller = try context.require(.customer, .admin)
            let id = try context.uuidParameter("id")
            guard let view = try await views.view(rentalId: id), caller.mayRead(customerId: view.customerId) else {
                throw APIError.notFound("rental \(id) not found")
            }
            return RentalViewResponse(view)
        }
    }
}
