import Hummingbird

/// What `bookdelivery <service>` and `up` need of a service: its name, its port, a line for
/// `--help`, and how to build the whole service from its options.
public protocol ServiceDefinition {
    associatedtype App: ApplicationProtocol
    /// ``Contracts/ServiceNames``: the command, the consumer group, the Redis user.
    static var name: String { get }
    static var defaultPort: Int { get }
    /// What the service does, for `--help`: "Rental: books and rentals".
    static var summary: String { get }
    static func buildApplication(options: ServiceOptions) throws -> App
    /// Catches the service's database up with the streams before it serves (``StreamRecovery``);
    /// nil for a service with no database of its own.
    static func recover(options: ServiceOptions) async throws -> RecoveryReport?
}

extension ServiceDefinition {
    public static func recover(options: ServiceOptions) async throws -> RecoveryReport? { nil }
}
