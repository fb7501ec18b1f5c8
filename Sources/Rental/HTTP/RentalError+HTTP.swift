import ServiceKit

extension RentalError: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .unknownBook(let id): .notFound("book \(id) not found")
        case .noCopyAvailable(let id): .conflict("no copy of book \(id) is available")
        case .unknownRental(let id): .notFound("rental \(id) not found")
        case .cannotCancel(let id, let status):
            .conflict("rental \(id) is \(status.rawValue): its delivery has started, it can no longer be canceled")
        case .cannotReturn(let id, let status):
            .conflict("rental \(id) is \(status.rawValue): only a delivered rental can be returned")
        }
    }
}
