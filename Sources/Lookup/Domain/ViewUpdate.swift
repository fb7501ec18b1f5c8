import Bus
import ServiceKit

/// What one event changes in a rental's view.
///
/// Events of one rental can arrive twice or out of order when several Lookup processes share the
/// work. Each status carries a rank along its lifecycle and the view only ever moves to a higher
/// rank (the version guard), so every arrival order converges to the same view.
struct ViewUpdate: Equatable, Sendable {
    /// A status and its place in the lifecycle.
    struct Ranked: Equatable, Sendable {
        var name: String
        var rank: Int
    }

    var rentalId: String
    var customerId: String
    var bookId = ""
    var bookTitle = ""
    var status: Ranked?
    var deliveryStatus: Ranked?
    var occurredAt: String
    /// The order itself: its time orders the customer's list.
    var isOrder = false

    /// Rental status ranks: `canceled` is terminal and can only follow `cancel_requested`, so it
    /// outranks everything; `delivering` outranks `cancel_requested` (a rejected cancel).
    static let statusRank = ["ordered": 1, "cancel_requested": 2, "delivering": 3, "delivered": 4, "returned": 5, "canceled": 6]
    static let deliveryRank = ["ready": 1, "started": 2, "delivered": 3, "canceled": 4]

    static func status(_ name: String) -> Ranked { Ranked(name: name, rank: statusRank[name]!) }
    static func delivery(_ name: String) -> Ranked { Ranked(name: name, rank: deliveryRank[name]!) }

    /// The update an event makes, or nil for events that don't concern rental views.
    static func from(_ envelope: EventEnvelope) throws -> ViewUpdate? {
        let at = envelope.occurredAt
        func rental(_ rentalId: String, _ customerId: String, _ bookId: String, _ status: String) -> ViewUpdate {
            ViewUpdate(rentalId: rentalId, customerId: customerId, bookId: bookId, status: Self.status(status), occurredAt: at)
        }
        func delivery(_ facts: DeliveryFacts, _ status: String?, _ deliveryStatus: String?) -> ViewUpdate {
            ViewUpdate(
                rentalId: facts.rentalId, customerId: facts.customerId, status: status.map(Self.status),
                deliveryStatus: deliveryStatus.map(Self.delivery), occurredAt: at)
        }
        switch envelope.type {
        case RentalOrdered.type:
            let event = try envelope.payload(as: RentalOrdered.self)
            var update = rental(event.rentalId, event.customerId, event.bookId, "ordered")
            update.bookTitle = event.bookTitle
            update.isOrder = true
            return update
        case RentalCancelRequested.type:
            let event = try envelope.payload(as: RentalCancelRequested.self)
            return rental(event.rentalId, event.customerId, event.bookId, "cancel_requested")
        case RentalReturned.type:
            let event = try envelope.payload(as: RentalReturned.self)
            return rental(event.rentalId, event.customerId, event.bookId, "returned")
        case DeliveryScheduled.type:
            return delivery(try envelope.payload(as: DeliveryScheduled.self).facts, nil, "ready")
        case DeliveryStarted.type:
            return delivery(try envelope.payload(as: DeliveryStarted.self).facts, "delivering", "started")
        case DeliveryCompleted.type:
            return delivery(try envelope.payload(as: DeliveryCompleted.self).facts, "delivered", "delivered")
        case DeliveryCanceled.type:
            return delivery(try envelope.payload(as: DeliveryCanceled.self).facts, "canceled", "canceled")
        case DeliveryCancelRejected.type:
            return delivery(try envelope.payload(as: DeliveryCancelRejected.self).facts, "delivering", nil)
        default:
            return nil
        }
    }
}
