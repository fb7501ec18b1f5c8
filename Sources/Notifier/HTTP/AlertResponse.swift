import Hummingbird

/// An alert as the API shows it.
public struct AlertResponse: ResponseCodable, Equatable, Sendable {
    public var id: Int64
    public var eventId: String
    public var kind: String
    public var customerId: String?
    public var rentalId: String?
    public var message: String
    public var createdAt: String

    init(_ alert: Alert) {
        (id, eventId, kind) = (alert.id ?? 0, alert.eventId, alert.kind.rawValue)
        (customerId, rentalId, message, createdAt) = (alert.customerId, alert.rentalId, alert.message, alert.createdAt)
    }
}
