import Bus
import Contracts
import GRDB
import ServiceKit

extension DeliveryStore {
    /// How Delivery catches up from the streams on a restored database (``StreamRecovery``).
    ///
    /// Its own events are replayed as facts: a delivery is created with the id and time its
    /// `DeliveryScheduled` (or, for a cancel that overtook the order, its `DeliveryCanceled`) carries,
    /// taking what Delivery's events do not carry (book, title, address) from the Rental event it
    /// answered; later statuses move it forward only. Then Rental's events go through the live
    /// routes: they find their deliveries made, and the answers they make again are dropped.
    public var recoveryRoutes: RecoveryRoutes {
        var routes = RecoveryRoutes(
            ownStream: Streams.delivery, consumed: DeliveryEventHandler(store: self).routes, consumedStreams: [Streams.rental])
        routes.onOwn(DeliveryScheduled.self) { scheduled, envelope, cause, db in
            let order = try cause.flatMap { $0.type == RentalOrdered.type ? try $0.payload(as: RentalOrdered.self) : nil }
            try Self.recorded(scheduled.facts, status: .ready, at: envelope.occurredAt, in: db) { facts in
                Delivery(
                    id: facts.deliveryId, rentalId: facts.rentalId, customerId: facts.customerId, bookId: order?.bookId ?? "",
                    bookTitle: order?.bookTitle, address: order?.address ?? "", status: .ready, createdAt: envelope.occurredAt,
                    updatedAt: envelope.occurredAt)
            }
        }
        routes.onOwn(DeliveryCanceled.self) { canceled, envelope, cause, db in
            let request = try cause.flatMap { $0.type == RentalCancelRequested.type ? try $0.payload(as: RentalCancelRequested.self) : nil }
            try Self.recorded(canceled.facts, status: .canceled, at: envelope.occurredAt, in: db) { facts in
                // A cancel that overtook the order: the delivery was made canceled, its address to come with the order.
                Delivery(
                    id: facts.deliveryId, rentalId: facts.rentalId, customerId: facts.customerId, bookId: request?.bookId ?? "",
                    bookTitle: nil, address: "", status: .canceled, createdAt: envelope.occurredAt, updatedAt: envelope.occurredAt)
            }
        }
        routes.onOwn(DeliveryStarted.self) { started, envelope, _, db in
            try Self.recorded(started.facts, status: .started, at: envelope.occurredAt, in: db, new: nil)
        }
        routes.onOwn(DeliveryCompleted.self) { completed, envelope, _, db in
            try Self.recorded(completed.facts, status: .delivered, at: envelope.occurredAt, in: db, new: nil)
        }
        return routes
    }

    /// Applies a recorded change: the delivery of `facts` reaches `status` at `time`, if that is
    /// forward in its lifecycle; a delivery not there yet is made by `new`, if given.
    private static func recorded(
        _ facts: DeliveryFacts, status: DeliveryStatus, at time: String, in db: Database, new: ((DeliveryFacts) -> Delivery)?
    ) throws {
        guard var delivery = try Delivery.fetchOne(db, key: facts.deliveryId) else {
            try new?(facts).insertRow(db)
            return
        }
        guard delivery.status < status, delivery.status != .canceled else { return }
        delivery.status = status
        delivery.updatedAt = time
        try delivery.update(db)
    }
}
