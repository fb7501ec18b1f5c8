import Contracts

/// A message for customers: a promotion for every new book, and a note on each status change of a
/// customer's rental.
public struct Alert: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
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

    /// The alert an event calls for, or nil for events customers are not told about.
    static func make(for event: any DomainEvent, eventId: String, at time: String) -> Alert? {
        func alert(_ kind: Kind, _ customerId: String?, _ rentalId: String?, _ message: String) -> Alert {
            Alert(id: nil, eventId: eventId, kind: kind, customerId: customerId, rentalId: rentalId, message: message, createdAt: time)
        }
        func status(_ event: any SagaEvent, _ message: String) -> Alert {
            alert(.rentalStatus, event.customerId, event.rentalId, "Rental \(event.rentalId): \(message)")
        }
        switch event {
        case let book as BookRegistered:
            return alert(.newBook, nil, nil, "New book: \"\(book.title)\" by \(book.author). Order it now, delivery is free!")
        case let order as RentalOrdered:
            return status(order, "\"\(order.bookTitle)\" ordered, it will be delivered to \(order.address).")
        case let request as RentalCancelRequested:
            return status(request, "cancel requested.")
        case let returned as RentalReturned:
            return status(returned, "returned, thank you!")
        case let started as DeliveryStarted:
            return status(started, "your book is on its way.")
        case let completed as DeliveryCompleted:
            return status(completed, "delivered. Enjoy your reading!")
        case let canceled as DeliveryCanceled:
            return status(canceled, "canceled.")
        case let rejected as DeliveryCancelRejected:
            return status(rejected, "the cancel came too late, the delivery had already started.")
        default:
            return nil
        }
    }
}
