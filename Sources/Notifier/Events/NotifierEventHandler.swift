import Bus
import Contracts
import Logging
import ServiceKit
import Tracing

/// The routes of Notifier's consumer of both streams (group `notifier`): an alert per event that
/// concerns customers, logged once it is kept.
struct NotifierEventHandler: Sendable {
    /// Every event a customer hears about (not DeliveryScheduled: nothing changes for them).
    static let types: [any DomainEvent.Type] = [
        BookRegistered.self, RentalOrdered.self, RentalCancelRequested.self, RentalReturned.self,
        DeliveryStarted.self, DeliveryCompleted.self, DeliveryCanceled.self, DeliveryCancelRejected.self,
    ]
    let store: AlertStore
    let logger: Logger
    /// Whether each alert kept is logged once committed. A recovery from the streams does not log
    /// the alerts it brings back (the lost process had logged them; its summary counts them): each
    /// line is a callback registered with the transaction, and one transaction of twenty thousand
    /// of them took GRDB 24 s instead of 2.
    var logsAlerts = true

    var routes: EventRoutes {
        var routes = EventRoutes(group: ConsumerGroups.notifier, database: store.database)
        let (store, logger, logsAlerts) = (self.store, self.logger, self.logsAlerts)
        func route<Event: DomainEvent>(_: Event.Type) {
            routes.on(Event.self) { event, envelope, db in
                guard let alert = Alert.make(for: event, eventId: envelope.id, at: envelope.occurredAt) else { return }
                // A span of the event's trace when it is sampled.
                let kept = try MessageTrace.withSpan("alert \(alert.kind.rawValue)", for: envelope) { try store.keep(alert, in: db) }
                guard kept, logsAlerts else { return }
                let traceContext = ServiceContext.current
                db.afterNextTransaction(onCommit: { _ in
                    // In the event's trace, so that the line carries its trace_id.
                    ServiceContext.$current.withValue(traceContext) {
                        // The message may hold an address: only at debug level.
                        let metadata: Logger.Metadata = [
                            "kind": "\(alert.kind.rawValue)", "customer": "\(alert.customerId ?? "all")",
                            "rental": "\(alert.rentalId ?? "-")", "request_id": "\(envelope.requestId)",
                        ]
                        logger.info("alert", metadata: metadata)
                        logger.debug("alert message", metadata: metadata.merging(["message": "\(alert.message)"]) { $1 })
                    }
                })
            }
        }
        for type in Self.types { route(type) }
        return routes
    }

    /// What the consumer calls: ``routes``, a batch at a time.
    var batchHandler: StreamConsumer.BatchHandler { routes.batchHandler }
}
