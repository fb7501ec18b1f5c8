/// The streams of the system. Each service publishes to its own stream.
public enum Streams {
    /// Written by Rental: BookRegistered, RentalOrdered, RentalCancelRequested, RentalReturned.
    public static let rental = "rental-events"
    /// Written by Delivery: DeliveryScheduled, DeliveryStarted, DeliveryCompleted, DeliveryCanceled,
    /// DeliveryCancelRejected.
    public static let delivery = "delivery-events"
    public static let all = [rental, delivery]
    /// The stream each service publishes to; the others publish none.
    public static let ownedBy: [String: String] = [ServiceNames.rental: rental, ServiceNames.delivery: delivery]
    /// Written by Lookup after each batch it applied: which customers' views changed, for the
    /// gateway's live pages. Not an event stream: no group reads it, entries are capped.
    public static let lookupChanges = "lookup:changes"
}

/// The services, by the one name each goes by everywhere: its command, its consumer group, its
/// Redis user, its metrics' `service` label and the gateway's pool.
public enum ServiceNames {
    public static let rental = "rental"
    public static let delivery = "delivery"
    public static let lookup = "lookup"
    public static let notifier = "notifier"
    public static let all = [rental, delivery, lookup, notifier]
}

/// The consumer groups, named after the consuming service, and the streams each one reads.
public enum ConsumerGroups {
    /// Rental reads Delivery's news.
    public static let rental = ServiceNames.rental
    /// Delivery reads orders and cancel requests.
    public static let delivery = ServiceNames.delivery
    /// Lookup builds its views from both streams.
    public static let lookup = ServiceNames.lookup
    /// Notifier makes alerts from both streams.
    public static let notifier = ServiceNames.notifier

    /// Which streams each group reads.
    public static let streams: [String: [String]] = [
        rental: [Streams.delivery],
        delivery: [Streams.rental],
        lookup: Streams.all,
        notifier: Streams.all,
    ]
}
