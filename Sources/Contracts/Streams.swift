/// The streams of the system. Each service publishes to its own stream.
public enum Streams {
    /// Written by Rental: BookRegistered, RentalOrdered, RentalCancelRequested, RentalReturned.
    public static let rental = "rental-events"
    /// Written by Delivery: DeliveryScheduled, DeliveryStarted, DeliveryCompleted, DeliveryCanceled,
    /// DeliveryCancelRejected.
    public static let delivery = "delivery-events"
    public static let all = [rental, delivery]
}

/// The consumer groups, named after the consuming service, and the streams each one reads.
public enum ConsumerGroups {
    /// Rental reads Delivery's news.
    public static let rental = "rental"
    /// Delivery reads orders and cancel requests.
    public static let delivery = "delivery"
    /// Lookup builds its views from both streams.
    public static let lookup = "lookup"
    /// Notifier makes alerts from both streams.
    public static let notifier = "notifier"

    /// Which streams each group reads.
    public static let streams: [String: [String]] = [
        rental: [Streams.delivery],
        delivery: [Streams.rental],
        lookup: Streams.all,
        notifier: Streams.all,
    ]
}
