import Bus
import GRDB
import Hummingbird
import ServiceKit

/// A message for customers: a promotion for every new book, and a note on each status change of a
/// customer's rental.
public struct Alert: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord, ResponseEncodable {
    public static let databaseTableName = "alerts"

    public enum Kind: String, Codable, Sendable, DatabaseValueConvertible {
        case newBook = "new_book"
        case rentalStatus = "rental_status"
    }

    public var id: Int64?
    /// The event the alert was made from: one alert per event, whatever the redeliveries.
    public var eventId: String
    public var kind: Kind
    /// Nil for promotions, which are for every customer.
    public var customerId: String?
    public var rentalId: String?
    public var message: String
    public var createdAt: String

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey { case id, eventId, kind, customerId, rentalId, message, createdAt }

    /// The alert an event calls for, or nil for events customers are not told about.
    static func from(_ envelope: EventEnvelope) throws -> Alert? {
        func alert(_ kind: Kind, _ customerId: String?, _ rentalId: String?, _ message: String) -> Alert {
            Alert(id: nil, eventId: envelope.id, kind: kind, customerId: customerId, rentalId: rentalId, message: message, createdAt: envelope.occurredAt)
        }
        func status(_ facts: DeliveryFacts, _ message: String) -> Alert {
            alert(.rentalStatus, facts.customerId, facts.rentalId, "Rental \(facts.rentalId): \(message)")
        }
        switch envelope.type {
        case BookRegistered.type:
            let book = try envelope.payload(as: BookRegistered.self)
            return alert(.newBook, nil, nil, "New book: \"\(book.title)\" by \(book.author). Order it now, delivery is free!")
        case RentalOrdered.type:
            let order = try envelope.payload(as: RentalOrdered.self)
            return alert(.rentalStatus, order.customerId, order.rentalId, "Rental \(order.rentalId): \"\(order.bookTitle)\" ordered, it will be delivered to \(order.address).")
        case RentalCancelRequested.type:
            let request = try envelope.payload(as: RentalCancelRequested.self)
            return alert(.rentalStatus, request.customerId, request.rentalId, "Rental \(request.rentalId): cancel requested.")
        case RentalReturned.type:
            let returned = try envelope.payload(as: RentalReturned.self)
            return alert(.rentalStatus, returned.customerId, returned.rentalId, "Rental \(returned.rentalId): returned, thank you!")
        case DeliveryStarted.type:
            return status(try envelope.payload(as: DeliveryStarted.self).facts, "your book is on its way.")
        case DeliveryCompleted.type:
            return status(try envelope.payload(as: DeliveryCompleted.self).facts, "delivered. Enjoy your reading!")
        case DeliveryCanceled.type:
            return status(try envelope.payload(as: DeliveryCanceled.self).facts, "canceled.")
        case DeliveryCancelRejected.type:
            return status(try envelope.payload(as: DeliveryCancelRejected.self).facts, "the cancel came too late, the delivery had already started.")
        default:
            return nil
        }
    }
}
