import Hummingbird
import ServiceKit

/// `GET /alerts?limit=&customerId=&kind=`: newest first.
struct AlertsController: Sendable {
    let store: AlertStore

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        group.get { request, _ in
            let query = request.uri.queryParameters
            let limit = try Validate.limit(query.get("limit"), default: 50, maximum: 1000)
            let customerId = try query.get("customerId").map { try Validate.text($0, "customerId", maxLength: 100) }
            let kind = try query.get("kind").map { value in
                guard let kind = Alert.Kind(rawValue: value) else { throw APIError.badRequest("'kind' must be new_book or rental_status") }
                return kind
            }
            return try await store.alerts(limit: limit, customerId: customerId, kind: kind).map(AlertResponse.init)
        }
    }
}
