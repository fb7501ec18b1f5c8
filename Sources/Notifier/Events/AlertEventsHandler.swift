import Bus
import Logging
import ServiceKit

/// Notifier's consumer of both streams (group `notifier`): logs and keeps an alert per event that
/// concerns customers.
struct AlertEventsHandler: Sendable {
    static let group = "notifier"
    static let types = [
        BookRegistered.type, RentalOrdered.type, RentalCancelRequested.type, RentalReturned.type,
        DeliveryStarted.type, DeliveryCompleted.type, DeliveryCanceled.type, DeliveryCancelRejected.type,
    ]
    let store: AlertStore
    let logger: Logger

    var routes: EventRoutes {
        var routes = EventRoutes(group: Self.group, database: store.database)
        let (store, logger) = (self.store, self.logger)
        routes.on(types: Self.types) { envelope, db in
            guard let alert = try Alert.from(envelope), try store.keep(alert, in: db) else { return }
            db.afterNextTransaction(onCommit: { _ in
                logger.info("alert", metadata: [
                    "kind": "\(alert.kind.rawValue)", "customer": "\(alert.customerId ?? "all")", "message": "\(alert.message)",
                ])
            })
        }
        return routes
    }
}
