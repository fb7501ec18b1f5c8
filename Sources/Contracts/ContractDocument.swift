/// The contracts as data: what `bookdelivery contracts` prints as JSON, so that tools outside Swift
/// (the fault harness) read the saga's rules from the same source instead of restating them.
public struct ContractDocument: Codable, Sendable, Equatable {
    public struct Event: Codable, Sendable, Equatable {
        public var type: String
        public var stream: String
        public var rentalStatus: RentalStatus?
        public var deliveryStatus: DeliveryStatus?

        public init(type: String, stream: String, rentalStatus: RentalStatus? = nil, deliveryStatus: DeliveryStatus? = nil) {
            self.type = type
            self.stream = stream
            self.rentalStatus = rentalStatus
            self.deliveryStatus = deliveryStatus
        }
    }

    public var streams: [String]
    /// Each stream's consumer groups.
    public var groups: [String: [String]]
    /// In lifecycle order: a rental only moves to a later status.
    public var rentalStatuses: [RentalStatus]
    public var deliveryStatuses: [DeliveryStatus]
    /// For each rental status, the delivery status it settles with (absent: not a settled state).
    public var settledDeliveryStatus: [String: DeliveryStatus]
    /// The rental statuses in which a rental holds a copy of its book.
    public var copyHoldingStatuses: [RentalStatus]
    public var events: [Event]
    /// The event types Notifier makes an alert of.
    public var alertTypes: [String]

    public init(alertTypes: [String]) {
        streams = Streams.all
        var groups: [String: [String]] = [:]
        for (group, streams) in ConsumerGroups.streams {
            for stream in streams { groups[stream, default: []].append(group) }
        }
        self.groups = groups.mapValues { $0.sorted() }
        rentalStatuses = RentalStatus.allCases
        deliveryStatuses = DeliveryStatus.allCases
        var settled: [String: DeliveryStatus] = [:]
        for status in RentalStatus.allCases { settled[status.rawValue] = status.settledDeliveryStatus }
        settledDeliveryStatus = settled
        copyHoldingStatuses = RentalStatus.allCases.filter(\.holdsCopy)
        events =
            [Event(type: BookRegistered.type, stream: BookRegistered.stream)]
            + EventCatalog.sagaEvents.map {
                Event(type: $0.type, stream: $0.stream, rentalStatus: $0.rentalStatus, deliveryStatus: $0.deliveryStatus)
            }
        self.alertTypes = alertTypes
    }
}
