import Contracts

/// Why Delivery refused a request; `HTTP/DeliveryError+HTTP.swift` maps each case to a status.
public enum DeliveryError: Error, Equatable {
    case unknownDelivery(String)
    case cannotStart(String, DeliveryStatus)
    case cannotComplete(String, DeliveryStatus)
}
