/// What a caller is to bookdelivery; every token carries exactly one.
public enum Role: String, Codable, Sendable, CaseIterable {
    /// Rents books; the token's subject is the customer id.
    case customer
    /// Starts and completes deliveries.
    case courier
    /// May do everything, including registering books.
    case admin
}

/// Who made a request, as a verified token says.
public struct Caller: Sendable, Equatable, CustomStringConvertible {
    /// The token's `sub`: the customer id for a customer.
    public var subject: String
    public var role: Role

    public init(subject: String, role: Role) {
        self.subject = subject
        self.role = role
    }

    /// Who every request is when a service runs with `--no-auth`: an admin, so that tests and
    /// benchmarks reach everything.
    public static let noAuthAdmin = Caller(subject: "no-auth", role: .admin)

    public var description: String { "\(role.rawValue) \(subject)" }
}
