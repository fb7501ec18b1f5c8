import ServiceKit

extension DeliveryError: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .unknownDelivery(let id): .notFound("delivery \(id) not found")
        case .cannotStart(let id, let status): .conflict("delivery \(id) is \(status.rawValue) and cannot be started")
        case .cannotComplete(let id, let status):
            .conflict("delivery \(id) is \(status.rawValue): only a started delivery can be completed")
        }
    }
}
