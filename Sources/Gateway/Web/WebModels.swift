import Contracts
import Foundation
import Identity

// What the pages show, apart from what the API answers: the API's bodies are decoded into the
// `API…` types, and each page gets a model made for its template (Mustache reads them by name).

// MARK: - The API's bodies

struct APIBook: Decodable {
    var id: String
    var title: String
    var author: String
    var copies: Int
    var available: Int
}

/// A rental as Lookup shows it, or Rental's record when the gateway falls back (`fallback`).
struct APIRentalView: Decodable {
    var rentalId: String
    var bookId: String?
    var bookTitle: String?
    var status: RentalStatus
    var deliveryStatus: ViewDeliveryStatus
    var updatedAt: String?
    var fallback: Bool?
}

/// A rental view's delivery status: Delivery's, or what a view says before and without it.
enum ViewDeliveryStatus: Decodable, Equatable {
    case known(DeliveryStatus)
    /// Ordered, and Delivery has not scheduled it yet.
    case pending
    /// The gateway's fallback to Rental's record: only Lookup knows it.
    case unknown

    init?(rawValue: String) {
        switch rawValue {
        case "pending": self = .pending
        case "unknown": self = .unknown
        default:
            guard let status = DeliveryStatus(rawValue: rawValue) else { return nil }
            self = .known(status)
        }
    }

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let status = Self(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "delivery status \(text)"))
        }
        self = status
    }

    var rawValue: String {
        switch self {
        case .known(let status): status.rawValue
        case .pending: "pending"
        case .unknown: "unknown"
        }
    }
}

struct APIDelivery: Decodable {
    var id: String
    var rentalId: String
    var customerId: String
    var bookId: String
    var bookTitle: String?
    var address: String
    var status: DeliveryStatus
}

struct APIAlert: Decodable {
    var kind: String
    var customerId: String?
    var message: String
    var createdAt: String
}

/// A timestamp as people read it: `2026-11-22 00:37 UTC` from `2026-11-22T00:37:01.650Z`.
func readableTime(_ timestamp: String?) -> String {
    guard let timestamp, timestamp.count >= 16 else { return timestamp ?? "" }
    return timestamp.prefix(10) + " " + timestamp.dropFirst(11).prefix(5) + " UTC"
}
