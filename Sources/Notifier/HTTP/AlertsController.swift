import Hummingbird
import Identity
import ServiceKit

/// `GET /alerts?limit=&cursor=&customerId=&kind=`: newest first. A customer sees its own alerts
/// and the new-book promotions; an admin sees all, or one customer's with `customerId`.
struct AlertsController: Sendable {
    let store: AlertStore

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.get { request, context in
            let caller = try context.require(.customer, .admin)
            let query = request.uri.queryParameters
            let page = try PageRequest(request, defaultLimit: 50, isOwnCursor: { Int64($0.id) != nil })
            let asked = try query.get("customerId").map { try Validate.text($0, "customerId", maxLength: 100) }
            let customerId = caller.role == .admin ? asked : try caller.customerId(asked: asked)
            let kind = try query.get("kind").map { value in
                guard let kind = Alert.Kind(rawValue: value) else { throw APIError.badRequest("'kind' must be new_book or rental_status") }
                return kind
            }
            let alerts = try await store.alerts(page: page, customerId: customerId, kind: kind)
            return page.page(
                alerts, for: request, cursor: { PageCursor(position: $0.createdAt, id: String($0.id ?? 0)) }, map: AlertResponse.init)
        }
    }
}
