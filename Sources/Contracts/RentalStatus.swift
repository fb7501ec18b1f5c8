/// Where a rental stands. Its saga:
/// `ordered` → `delivering` → `delivered` → `returned`, and
/// `ordered` → `cancel_requested` → `canceled`, or on to `delivering` when Delivery had already started.
///
/// The cases are declared in lifecycle order and a rental only ever moves to a later one: that is
/// how Rental and Lookup stay right when events come late, twice or out of order. `canceled` is
/// terminal and can only follow `cancel_requested`, so it comes last; `delivering` comes after
/// `cancel_requested` (a rejected cancel).
public enum RentalStatus: String, Codable, Sendable, CaseIterable, Comparable {
    case ordered
    case cancelRequested = "cancel_requested"
    case delivering
    case delivered
    case returned
    case canceled

    /// The place in the lifecycle, from 1.
    public var rank: Int {
        switch self {
        case .ordered: 1
        case .cancelRequested: 2
        case .delivering: 3
        case .delivered: 4
        case .returned: 5
        case .canceled: 6
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }

    /// Whether a rental in this status holds a copy of its book: from the order until it is
    /// canceled or returned.
    public var holdsCopy: Bool { self != .canceled && self != .returned }

    /// The status the rental's delivery has once both sides have settled; nil while they cannot
    /// have (a cancel request waits for Delivery's answer).
    public var settledDeliveryStatus: DeliveryStatus? {
        switch self {
        case .ordered: .ready
        case .cancelRequested: nil
        case .delivering: .started
        case .delivered, .returned: .delivered
        case .canceled: .canceled
        }
    }
}

/// Where a delivery stands: `ready` → `started` → `delivered`, or `ready` → `canceled`. Declared in
/// lifecycle order, like ``RentalStatus``.
public enum DeliveryStatus: String, Codable, Sendable, CaseIterable, Comparable {
    case ready, started, delivered, canceled

    /// The place in the lifecycle, from 1.
    public var rank: Int {
        switch self {
        case .ready: 1
        case .started: 2
        case .delivered: 3
        case .canceled: 4
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}
