import Contracts

/// Why Rental refused a request; `HTTP/RentalError+HTTP.swift` maps each case to a status.
public enum RentalError: Error, Equatable {
    case unknownBook(String)
    case noCopyAvailable(String)
    case unknownRental(String)
    case cannotCancel(String, RentalStatus)
    case cannotReturn(String, RentalStatus)
}
