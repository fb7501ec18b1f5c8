import ServiceKit

/// Why Delivery refused a request; mapped to HTTP in one place.
public enum DeliveryError: Error, Equatable, APIErrorConvertible {
    case unknownDelivery(String)
    case cannotStart(String, DeliveryStatus)
    case cannotComplete(String, DeliveryStatus)

    public var apiError: APIError {
        switch self {
        case .unknownDelivery(let id): .notFound("delivery \(id) not found")
        case .cannotStart(let id, let status): .conflict("delivery \(id) is \(status.rawValue) and cannot be started")
        case .cannotComplete(let id, let status): .conflict("delivery \(id) is \(status.rawValue): only a started delivery can be completed")
        }
    }
}
